package protocol

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func TestGuardDuplicateInsideAndAfterWindow(t *testing.T) {
	g := NewGuard(GuardConfig{})
	k := mustKey(t, 1)
	e := mustEnvelope(t, k, t0, "x")
	if err := g.Admit(e, t0); err != nil {
		t.Fatalf("first Admit: %v", err)
	}
	if got := ReasonOf(g.Admit(e, t0.Add(time.Second))); got != ReasonDuplicate {
		t.Fatalf("second Admit reason = %q, want duplicate", got)
	}
	// Just inside the freshness window the ID is still remembered.
	if got := ReasonOf(g.Admit(e, t0.Add(DefaultMaxAge))); got != ReasonDuplicate {
		t.Fatalf("Admit at the edge of the window reason = %q, want duplicate", got)
	}
	// After the window the replay is stale, whatever the filter remembers.
	if got := ReasonOf(g.Admit(e, t0.Add(DefaultMaxAge+time.Millisecond))); got != ReasonStale {
		t.Fatalf("Admit after the window reason = %q, want stale", got)
	}
	if got := g.Drops()[ReasonDuplicate]; got != 2 {
		t.Fatalf("duplicate drops = %d, want 2", got)
	}
}

func TestGuardDuplicateWindowCoversFreshness(t *testing.T) {
	g := NewGuard(GuardConfig{DuplicateWindow: time.Second})
	e := mustEnvelope(t, mustKey(t, 1), t0.Add(DefaultMaxFuture), "x")
	if err := g.Admit(e, t0); err != nil {
		t.Fatal(err)
	}
	// The envelope stays fresh until t0+MaxFuture+MaxAge; the filter must remember it that long.
	late := t0.Add(DefaultMaxFuture + DefaultMaxAge - time.Millisecond)
	if got := ReasonOf(g.Admit(e, late)); got != ReasonDuplicate {
		t.Fatalf("replay late in the window: reason = %q, want duplicate", got)
	}
}

func TestGuardDuplicateForgottenWithoutFreshness(t *testing.T) {
	g := NewGuard(GuardConfig{Freshness: Freshness{Disabled: true}, DuplicateWindow: time.Minute})
	e := mustEnvelope(t, mustKey(t, 1), t0, "x")
	if err := g.Admit(e, t0); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(e, t0.Add(time.Minute+time.Nanosecond)); err != nil {
		t.Fatalf("Admit after the duplicate window: %v", err)
	}
}

func TestGuardFreshness(t *testing.T) {
	g := NewGuard(GuardConfig{Freshness: Freshness{MaxAge: time.Minute, MaxFuture: 10 * time.Second}})
	k := mustKey(t, 1)
	cases := []struct {
		ts   time.Time
		want Reason
	}{
		{t0.Add(-time.Minute), ""},
		{t0.Add(-time.Minute - time.Millisecond), ReasonStale},
		{t0.Add(10 * time.Second), ""},
		{t0.Add(10*time.Second + time.Millisecond), ReasonFuture},
	}
	for i, c := range cases {
		e := mustEnvelope(t, k, c.ts, i)
		if got := ReasonOf(g.Admit(e, t0)); got != c.want {
			t.Errorf("timestamp %v: reason = %q, want %q", c.ts.Sub(t0), got, c.want)
		}
	}
}

func TestGuardRateLimitBoundary(t *testing.T) {
	g := NewGuard(GuardConfig{SenderRate: 60, SenderBurst: 5})
	alice, bob := mustKey(t, 1), mustKey(t, 2)
	for i := 0; i < 5; i++ {
		if err := g.Admit(mustEnvelope(t, alice, t0, i), t0); err != nil {
			t.Fatalf("envelope %d inside the burst: %v", i, err)
		}
	}
	limited := mustEnvelope(t, alice, t0, 5)
	if got := ReasonOf(g.Admit(limited, t0)); got != ReasonRateLimited {
		t.Fatalf("envelope over the burst: reason = %q, want rate_limited", got)
	}
	// Other senders are unaffected.
	if err := g.Admit(mustEnvelope(t, bob, t0, 0), t0); err != nil {
		t.Fatalf("other sender: %v", err)
	}
	// 60 per minute refills one token a second; a rate-limited envelope is not remembered.
	if got := ReasonOf(g.Admit(limited, t0.Add(999*time.Millisecond))); got != ReasonRateLimited {
		t.Fatalf("before the refill: reason = %q, want rate_limited", got)
	}
	if err := g.Admit(limited, t0.Add(time.Second)); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

func TestGuardIgnoreAndContent(t *testing.T) {
	alice, bob := mustKey(t, 1), mustKey(t, 2)
	g := NewGuard(GuardConfig{Ignore: []PublicKey{bob.PublicKey()}, ContentWindow: time.Minute})
	if got := ReasonOf(g.Admit(mustEnvelope(t, bob, t0, "x"), t0)); got != ReasonIgnored {
		t.Fatalf("ignored sender: reason = %q", got)
	}
	first := mustEnvelope(t, alice, t0, map[string]any{"text": "same"})
	second := mustEnvelope(t, alice, t0.Add(time.Millisecond), map[string]any{"text": "same"})
	if first.ID == second.ID {
		t.Fatal("test envelopes share an ID")
	}
	if err := g.Admit(first, t0); err != nil {
		t.Fatal(err)
	}
	if got := ReasonOf(g.Admit(second, t0)); got != ReasonContentDuplicate {
		t.Fatalf("same content: reason = %q, want content_duplicate", got)
	}
	if err := g.Admit(second, t0.Add(time.Minute+time.Millisecond)); err != nil {
		t.Fatalf("same content after the window: %v", err)
	}
}

func TestGuardMaxIDsBound(t *testing.T) {
	g := NewGuard(GuardConfig{MaxIDs: 100, Freshness: Freshness{Disabled: true}})
	k := mustKey(t, 1)
	for i := 0; i < 250; i++ {
		if err := g.Admit(mustEnvelope(t, k, t0, i), t0); err != nil {
			t.Fatal(err)
		}
	}
	st := g.Stats()
	if st.IDs != 100 {
		t.Fatalf("IDs remembered = %d, want 100", st.IDs)
	}
	if st.EarlyEvictions != 150 {
		t.Fatalf("early evictions = %d, want 150", st.EarlyEvictions)
	}
}

func TestRateLimiterEvictsIdlest(t *testing.T) {
	const senders = 100_000
	l := NewRateLimiter(1, 1, 1000)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := t0
	for i := 0; i < senders; i++ {
		now = now.Add(time.Microsecond)
		if !l.Allow(fmt.Sprintf("sender-%d", i), now) {
			t.Fatalf("first event of sender %d refused", i)
		}
		// One sender stays busy, so it is never the idlest.
		l.Allow("busy", now)
	}
	if got := l.Len(); got != 1000 {
		t.Fatalf("tracked keys = %d, want 1000", got)
	}
	if got := l.Evicted(); got != senders+1-1000 {
		t.Fatalf("evicted = %d, want %d", got, senders+1-1000)
	}
	// The busy sender kept its (empty) bucket; a recent sender is still limited.
	if l.Allow("busy", now) {
		t.Fatal("busy sender was evicted and got a fresh bucket")
	}
	if l.Allow(fmt.Sprintf("sender-%d", senders-1), now) {
		t.Fatal("recent sender was evicted")
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Fatalf("heap grew by %d bytes for 1000 tracked senders", grown)
	}
}

func TestRateLimiterUnlimitedAndReserve(t *testing.T) {
	unlimited := NewRateLimiter(0, 1, 1)
	for i := 0; i < 3; i++ {
		if !unlimited.Allow("a", t0) {
			t.Fatalf("a limiter with rate 0 rejected event %d", i)
		}
	}
	l := NewRateLimiter(60, 2, 10)
	ok, rem := l.Reserve("ip", t0)
	if !ok || rem.Tokens != 1 {
		t.Fatalf("first Reserve = %v, %+v", ok, rem)
	}
	l.Reserve("ip", t0)
	ok, rem = l.Reserve("ip", t0)
	if ok || rem.Reset <= 0 || rem.Reset > time.Second {
		t.Fatalf("third Reserve = %v, %+v; want refused with a reset within 1s", ok, rem)
	}
}

func TestGuardAdmitToCountsEachRecipient(t *testing.T) {
	g := NewGuard(GuardConfig{ContentWindow: time.Minute})
	e := mustEnvelope(t, mustKey(t, 1), t0, "x")
	if err := g.AdmitTo(e, "bob", t0); err != nil {
		t.Fatalf("toward bob: %v", err)
	}
	if err := g.AdmitTo(e, "carol", t0); err != nil {
		t.Fatalf("toward carol after bob: %v", err)
	}
	if got := ReasonOf(g.AdmitTo(e, "bob", t0.Add(time.Second))); got != ReasonDuplicate {
		t.Fatalf("toward bob again: reason = %q, want duplicate", got)
	}
}

func TestGuardForgetAllowsResend(t *testing.T) {
	g := NewGuard(GuardConfig{ContentWindow: time.Minute})
	e := mustEnvelope(t, mustKey(t, 1), t0, "x")
	if err := g.Admit(e, t0); err != nil {
		t.Fatal(err)
	}
	g.Forget(e)
	if err := g.Admit(e, t0.Add(time.Second)); err != nil {
		t.Fatalf("resend after Forget: %v", err)
	}
	if got := ReasonOf(g.Admit(e, t0.Add(2*time.Second))); got != ReasonDuplicate {
		t.Fatalf("resend after the second admission: reason = %q, want duplicate", got)
	}
}

func TestGuardForgetToAllowsResend(t *testing.T) {
	g := NewGuard(GuardConfig{Freshness: Freshness{Disabled: true}, DuplicateWindow: time.Minute, ContentWindow: time.Minute})
	e := mustEnvelope(t, mustKey(t, 1), t0, "x")
	if err := g.AdmitTo(e, "bob", t0); err != nil {
		t.Fatal(err)
	}
	g.ForgetTo(e, "bob")
	if err := g.AdmitTo(e, "bob", t0.Add(30*time.Second)); err != nil {
		t.Fatalf("resend after ForgetTo: %v", err)
	}
	if got := ReasonOf(g.AdmitTo(e, "bob", t0.Add(31*time.Second))); got != ReasonDuplicate {
		t.Fatalf("resend after the second admission: reason = %q, want duplicate", got)
	}
	// Another admission after the first one's expiry drops expired entries; the second
	// admission of e is still remembered.
	if err := g.AdmitTo(mustEnvelope(t, mustKey(t, 2), t0, "y"), "bob", t0.Add(61*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := ReasonOf(g.AdmitTo(e, "bob", t0.Add(61*time.Second))); got != ReasonDuplicate {
		t.Fatalf("resend after the first expiry: reason = %q, want duplicate", got)
	}
}
