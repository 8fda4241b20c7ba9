package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agora-p2p/agora/protocol"
)

func TestPutPendingOrder(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	var want []string
	for i := range 50 {
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		want = append(want, env.ID)
	}
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("Pending IDs = %v, want %v", ids(got), want)
	}
	for i, st := range got {
		if st.Seq != uint64(i+1) {
			t.Errorf("entry %d has Seq %d, want %d", i, st.Seq, i+1)
		}
		if st.StoredAt.IsZero() {
			t.Errorf("entry %d has no StoredAt", i)
		}
	}
}

func TestStoredEnvelopeVerifies(t *testing.T) {
	s, peer := testStore(t, Options{})
	env, err := protocol.CreateEnvelope(newKey(t), "request", []string{peer}, map[string]any{"x": []int{1, 2}}, &protocol.CreateOptions{InReplyTo: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, peer, env)
	got, err := s.Pending(peer, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Pending returned %d envelopes, want 1", len(got))
	}
	wire, err := got[0].Envelope.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.Verify(wire, protocol.DefaultLimits()); err != nil {
		t.Fatalf("envelope read back does not verify: %v", err)
	}
	if got[0].Envelope.InReplyTo != env.InReplyTo {
		t.Errorf("InReplyTo = %q, want %q", got[0].Envelope.InReplyTo, env.InReplyTo)
	}
}

func TestPutDuplicateStoredOnce(t *testing.T) {
	s, peer := testStore(t, Options{})
	env := newEnvelope(t, newKey(t), peer, 1)
	mustPut(t, s, peer, env)
	mustPut(t, s, peer, env)
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Pending returned %d envelopes, want 1", len(got))
	}
	if st := s.Stats(); st.Messages != 1 {
		t.Errorf("Stats.Messages = %d, want 1", st.Messages)
	}
}

func TestPutNotStoragePeer(t *testing.T) {
	s, _ := testStore(t, Options{})
	other := newKey(t).PublicKey().String()
	err := s.Put(context.Background(), other, newEnvelope(t, newKey(t), other, 1))
	if !errors.Is(err, ErrNotStoragePeer) {
		t.Fatalf("Put for a non-storage peer: err = %v, want ErrNotStoragePeer", err)
	}
	if s.IsStoragePeer(other) {
		t.Error("IsStoragePeer is true for a key not in StoragePeers")
	}
}

func TestIsStoragePeerAcceptsPeerID(t *testing.T) {
	k := newKey(t)
	s, err := Open(Options{Dir: t.TempDir(), StoragePeers: []string{k.PeerID().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.IsStoragePeer(k.PublicKey().String()) {
		t.Error("IsStoragePeer(SPKI hex) is false for a peer listed by peer ID")
	}
	if !s.IsStoragePeer(k.PeerID().String()) {
		t.Error("IsStoragePeer(peer ID) is false for a peer listed by peer ID")
	}
}

func TestPutCancelledContext(t *testing.T) {
	s, peer := testStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, peer, newEnvelope(t, newKey(t), peer, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestQuotas(t *testing.T) {
	env := newEnvelope(t, newKey(t), newKey(t).PublicKey().String(), 1)
	wire, _ := env.MarshalJSON()
	size := int64(len(wire)) + 40 // room for the longer recipient-specific envelopes below
	cases := []struct {
		name  string
		opts  Options
		quota Quota
	}{
		{"peer count", Options{MaxPerPeer: 3}, QuotaPeerCount},
		{"peer bytes", Options{MaxBytesPerPeer: 3 * size}, QuotaPeerBytes},
		{"total bytes", Options{MaxTotalBytes: 3 * size}, QuotaTotalBytes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, peer := testStore(t, tc.opts)
			sender := newKey(t)
			var accepted []*protocol.Envelope
			var quotaErr error
			for i := range 10 {
				env := newEnvelope(t, sender, peer, i)
				if err := s.Put(context.Background(), peer, env); err != nil {
					quotaErr = err
					break
				}
				accepted = append(accepted, env)
			}
			var qe *QuotaError
			if !errors.As(quotaErr, &qe) {
				t.Fatalf("Put past the quota: err = %v, want a *QuotaError", quotaErr)
			}
			if !errors.Is(quotaErr, ErrQuotaExceeded) {
				t.Errorf("errors.Is(%v, ErrQuotaExceeded) is false", quotaErr)
			}
			var detector interface{ QuotaExceeded() bool }
			if !errors.As(quotaErr, &detector) || !detector.QuotaExceeded() {
				t.Errorf("%v does not report QuotaExceeded", quotaErr)
			}
			if qe.Quota != tc.quota {
				t.Errorf("QuotaError.Quota = %s, want %s", qe.Quota, tc.quota)
			}
			if len(accepted) != 3 {
				t.Errorf("accepted %d envelopes before the quota, want 3", len(accepted))
			}
			got, err := s.Pending(peer, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(accepted) {
				t.Errorf("Pending returned %d envelopes, want %d", len(got), len(accepted))
			}
			// Deleting one frees room for one more.
			if err := s.Delete(peer, accepted[0].ID); err != nil {
				t.Fatal(err)
			}
			mustPut(t, s, peer, newEnvelope(t, sender, peer, 100))
		})
	}
}

func TestQuotaTotalAcrossPeers(t *testing.T) {
	a, b := newKey(t).PublicKey().String(), newKey(t).PublicKey().String()
	env := newEnvelope(t, newKey(t), a, 1)
	wire, _ := env.MarshalJSON()
	s, err := Open(Options{Dir: t.TempDir(), StoragePeers: []string{a, b}, MaxTotalBytes: int64(len(wire)) + 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustPut(t, s, a, env)
	err = s.Put(context.Background(), b, newEnvelope(t, newKey(t), b, 2))
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Quota != QuotaTotalBytes {
		t.Fatalf("Put for a second peer past the global limit: err = %v, want QuotaTotalBytes", err)
	}
}

func TestQuotaNegativeIsUnlimited(t *testing.T) {
	s, peer := testStore(t, Options{MaxPerPeer: -1, MaxBytesPerPeer: -1, MaxTotalBytes: -1})
	sender := newKey(t)
	for i := range 20 {
		mustPut(t, s, peer, newEnvelope(t, sender, peer, i))
	}
}

func TestBatchedQuotaKeepsOthers(t *testing.T) {
	s, peer := testStore(t, Options{MaxPerPeer: 20})
	sender := newKey(t)
	envs := make([]*protocol.Envelope, 40)
	for i := range envs {
		envs[i] = newEnvelope(t, sender, peer, i)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(envs))
	for i, env := range envs {
		wg.Go(func() { errs[i] = s.Put(context.Background(), peer, env) })
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, ErrQuotaExceeded):
			t.Errorf("Put %d: unexpected error %v", i, err)
		}
	}
	if accepted != 20 {
		t.Errorf("accepted %d concurrent Puts, want exactly the quota of 20", accepted)
	}
	if st := s.Stats(); st.Messages != 20 {
		t.Errorf("Stats.Messages = %d, want 20", st.Messages)
	}
}

func TestExpire(t *testing.T) {
	s, peer := testStore(t, Options{MaxAge: time.Hour})
	sender := newKey(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recent []string
	for i := range 10 {
		s.nowFunc = func() time.Time { return base.Add(time.Duration(i) * 10 * time.Minute) }
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		if i >= 4 {
			recent = append(recent, env.ID)
		}
	}
	// At base+100min the cutoff is base+40min: envelopes 0..3 are older.
	n, err := s.Expire(base.Add(100 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("Expire removed %d envelopes, want 4", n)
	}
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), recent) {
		t.Errorf("after Expire Pending = %v, want %v", ids(got), recent)
	}
	st := s.Stats()
	if st.Messages != 6 || st.Peers[peer].Messages != 6 {
		t.Errorf("Stats after Expire = %+v, want 6 messages", st)
	}
	if n, err := s.Expire(base.Add(100 * time.Minute)); err != nil || n != 0 {
		t.Errorf("second Expire = %d, %v; want 0, nil", n, err)
	}
}

func TestExpireManyBatches(t *testing.T) {
	s, peer := testStore(t, Options{MaxAge: time.Minute, MaxPerPeer: -1})
	sender := newKey(t)
	env := newEnvelope(t, sender, peer, 0)
	want := expireBatch + 7
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range want {
			e := *env
			e.ID = fmt.Sprintf("%064d", i)
			wire, _ := e.MarshalJSON()
			if _, err := s.putTx(tx, peer, e.ID, wire); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Expire(time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("Expire removed %d, want %d", n, want)
	}
	if st := s.Stats(); st.Messages != 0 || st.Bytes != 0 {
		t.Errorf("Stats after expiring all = %+v, want zero", st)
	}
}

func TestSince(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []string
	for i := range 6 {
		s.nowFunc = func() time.Time { return base.Add(time.Duration(i) * time.Minute) }
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		all = append(all, env.ID)
	}
	got, err := s.Since(peer, base.Add(3*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), all[3:]) {
		t.Errorf("Since(base+3m) = %v, want %v", ids(got), all[3:])
	}
	got, err = s.Since(peer, base.Add(3*time.Minute), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), all[3:5]) {
		t.Errorf("Since(base+3m, 2) = %v, want %v", ids(got), all[3:5])
	}
}

func TestStoredAtNeverDecreases(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.nowFunc = func() time.Time { return base }
	mustPut(t, s, peer, newEnvelope(t, sender, peer, 0))
	s.nowFunc = func() time.Time { return base.Add(-time.Hour) } // the clock steps back
	mustPut(t, s, peer, newEnvelope(t, sender, peer, 1))
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].StoredAt.Before(got[0].StoredAt) {
		t.Fatalf("StoredAt went back after a clock step: %v", got)
	}
	since, err := s.Since(peer, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 2 {
		t.Errorf("Since(base) returned %d envelopes, want 2", len(since))
	}
}

func TestAfterPaging(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	var want []string
	for i := range 25 {
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		want = append(want, env.ID)
	}
	var got []string
	var last uint64
	for pages := 0; pages < 10; pages++ {
		page, err := s.After(peer, last, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 7 {
			t.Fatalf("page of %d envelopes exceeds the limit of 7", len(page))
		}
		got = append(got, ids(page)...)
		last = page[len(page)-1].Seq
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged IDs = %v, want %v", got, want)
	}
}

func TestDeleteIdempotent(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	var all []string
	for i := range 5 {
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		all = append(all, env.ID)
	}
	for range 2 {
		if err := s.Delete(peer, all[1], all[3], "unknown-id"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{all[0], all[2], all[4]}
	if !slices.Equal(ids(got), want) {
		t.Errorf("after Delete Pending = %v, want %v", ids(got), want)
	}
	st := s.Stats()
	if st.Messages != 3 || st.Peers[peer].Messages != 3 {
		t.Errorf("Stats after Delete = %+v, want 3 messages", st)
	}
	// A deleted ID may be stored again.
	env := got[0].Envelope
	if err := s.Delete(peer, env.ID); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, peer, env)
	if st := s.Stats(); st.Messages != 3 {
		t.Errorf("Stats.Messages after storing a deleted ID again = %d, want 3", st.Messages)
	}
	if err := s.Delete(newKey(t).PublicKey().String(), all[0]); err != nil {
		t.Errorf("Delete for a non-storage peer: %v", err)
	}
}

func TestStatsBytes(t *testing.T) {
	s, peer := testStore(t, Options{})
	sender := newKey(t)
	var size int64
	for i := range 3 {
		env := newEnvelope(t, sender, peer, i)
		wire, _ := env.MarshalJSON()
		size += int64(len(wire))
		mustPut(t, s, peer, env)
	}
	st := s.Stats()
	if st.Bytes != size || st.Peers[peer].Bytes != size {
		t.Errorf("Stats bytes = %d (peer %d), want %d", st.Bytes, st.Peers[peer].Bytes, size)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	peer := newKey(t).PublicKey().String()
	opts := Options{Dir: dir, StoragePeers: []string{peer}}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	sender := newKey(t)
	var want []string
	for i := range 20 {
		env := newEnvelope(t, sender, peer, i)
		mustPut(t, s, peer, env)
		want = append(want, env.ID)
	}
	if err := s.Delete(peer, want[0]); err != nil {
		t.Fatal(err)
	}
	want = want[1:]
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("after restart Pending = %v, want %v", ids(got), want)
	}
	if after := s.Stats(); after.Messages != before.Messages || after.Bytes != before.Bytes {
		t.Errorf("Stats after restart = %+v, want %+v", after, before)
	}
	env := newEnvelope(t, sender, peer, 99)
	mustPut(t, s, peer, env)
	got, err = s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := got[len(got)-1]; last.Envelope.ID != env.ID || last.Seq != 21 {
		t.Errorf("first Put after restart got Seq %d, want 21", last.Seq)
	}
}

func TestConcurrentPutsBatched(t *testing.T) {
	s, peer := testStore(t, Options{})
	const writers, each = 32, 10
	sent := make([][]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		sender := newKey(t)
		envs := make([]*protocol.Envelope, each)
		for i := range envs {
			envs[i] = newEnvelope(t, sender, peer, i)
		}
		wg.Go(func() {
			for _, env := range envs {
				if err := s.Put(context.Background(), peer, env); err != nil {
					t.Errorf("writer %d: Put: %v", w, err)
					return
				}
				sent[w] = append(sent[w], env.ID)
			}
		})
	}
	wg.Wait()
	got, err := s.Pending(peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("Pending returned %d envelopes, want %d", len(got), writers*each)
	}
	seqOf := make(map[string]uint64, len(got))
	for _, st := range got {
		seqOf[st.Envelope.ID] = st.Seq
	}
	for w, list := range sent {
		for i := 1; i < len(list); i++ {
			if seqOf[list[i-1]] >= seqOf[list[i]] {
				t.Errorf("writer %d: envelope %d stored before envelope %d", w, i, i-1)
			}
		}
	}
}

// validDatabase returns the bytes of a closed store file holding one envelope.
// TestOpenUnwritableDir covers a storage directory that cannot be created. As root, permission
// bits do not stop writes, so the test then uses a path whose parent is a regular file; as
// another user it uses a directory of mode 0500.
func TestRunExpiryRemovesOld(t *testing.T) {
	s, peer := testStore(t, Options{MaxAge: time.Hour})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.nowFunc = func() time.Time { return base }
	mustPut(t, s, peer, newEnvelope(t, newKey(t), peer, 1))
	var now atomic.Int64
	now.Store(base.Add(2 * time.Hour).UnixNano())
	s.nowFunc = func() time.Time { return time.Unix(0, now.Load()) }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunExpiry(ctx, 5*time.Millisecond)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Messages != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := s.Stats().Messages; n != 0 {
		t.Errorf("RunExpiry left %d expired envelopes", n)
	}
}
