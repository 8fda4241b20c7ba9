package relaymode

import (
	"context"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
	"github.com/agora-p2p/agora/relaymode/store"
)

// storeConfig returns a relay config with a bbolt store that keeps messages for peer.
func storeConfig(t *testing.T, dir string, peer *protocol.KeyPair) (Config, *store.Store) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, StoragePeers: []string{peer.PublicKey().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := testConfig(t)
	cfg.Store = st
	cfg.StoragePeers = []string{peer.PublicKey().String()}
	return cfg, st
}

// startStoreRelay starts a relay that stores envelopes for peer, and registers a sender.
func startStoreRelay(t *testing.T, peer *protocol.KeyPair) (*Relay, *store.Store, *client.Client, context.Context) {
	t.Helper()
	cfg, st := storeConfig(t, t.TempDir(), peer)
	r := startRelay(t, cfg)
	sender, _ := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return r, st, sender, ctx
}

func TestStoreAndForwardWithAcks(t *testing.T) {
	peer := newKey(t)
	r, st, sender, ctx := startStoreRelay(t, peer)

	if got := sender.Peers(); len(got) != 1 || got[0] != peer.PublicKey().String() {
		t.Fatalf("registered peers = %v, want the offline storage peer", got)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		id, kind, err := sender.Send(ctx, peer.PublicKey().String(), "request", i, nil)
		if err != nil || kind != "stored" {
			t.Fatalf("send %d: %v %q, want stored", i, err, kind)
		}
		ids = append(ids, id)
	}
	if n := st.Stats().Messages; n != 5 {
		t.Fatalf("store holds %d messages, want 5", n)
	}
	c, err := client.Dial(ctx, r.WSURL(), peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range ids {
		select {
		case m := <-c.Messages():
			if m.Envelope.ID != want {
				t.Fatalf("message %d = %s, want %s", i, m.Envelope.ID, want)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d stored messages", i, len(ids))
		}
	}
	waitFor(t, func() bool { return st.Stats().Messages == 0 }, "acked messages to leave the store")
	c.Close()

	// Storage peers get no peer_offline, and a reconnect receives nothing more.
	again, err := client.Dial(ctx, r.WSURL(), peer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	select {
	case m := <-again.Messages():
		t.Fatalf("reconnect received %s again", m.Envelope.ID)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestStoredDeletedAfterWriteWithoutAcks(t *testing.T) {
	peer := newKey(t)
	r, st, sender, ctx := startStoreRelay(t, peer)
	if _, _, err := sender.Send(ctx, peer.PublicKey().String(), "request", "x", nil); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, r.WSURL(), peer, &client.Options{NoAck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-c.Messages()
	waitFor(t, func() bool { return st.Stats().Messages == 0 }, "the written message to leave the store")
}

func TestStoredKeptWithoutAck(t *testing.T) {
	peer := newKey(t)
	dir := t.TempDir()
	cfg, st := storeConfig(t, dir, peer)
	r := startRelay(t, cfg)
	sender, _ := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := sender.Send(ctx, peer.PublicKey().String(), "request", "x", nil); err != nil {
		t.Fatal(err)
	}
	// A client that promises acks but closes before sending one gets the message again.
	c := registerRawAcks(t, r, peer)
	c.next("message")
	c.conn.Close()
	time.Sleep(100 * time.Millisecond)
	if n := st.Stats().Messages; n != 1 {
		t.Fatalf("store holds %d messages after an unacked delivery, want 1", n)
	}
}

func TestRESTStoragePeerReadsStore(t *testing.T) {
	peer := newKey(t)
	r, st, sender, ctx := startStoreRelay(t, peer)
	id, _, err := sender.Send(ctx, peer.PublicKey().String(), "request", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := registerREST(t, r, peer)
	since := time.Now().Add(-time.Hour).Format(time.RFC3339)
	if _, body, _ := rc.do("GET", "/v1/messages/replay?since="+since, nil); len(body["messages"].([]any)) != 1 {
		t.Fatalf("replay from the store: %v", body)
	}
	_, body, _ := rc.do("GET", "/v1/messages", nil)
	msgs := body["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["id"] != id {
		t.Fatalf("messages: %v", body)
	}
	if n := st.Stats().Messages; n != 0 {
		t.Fatalf("store holds %d messages after a read without since, want 0", n)
	}
}

func registerRawAcks(t *testing.T, r *Relay, k *protocol.KeyPair) *rawConn {
	t.Helper()
	return registerRawWith(t, r, k, map[string]any{"acks": true})
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
