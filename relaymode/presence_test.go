package relaymode

import (
	"fmt"
	"testing"
)

func TestPresenceLogReadsInOrder(t *testing.T) {
	l := newPresenceLog(10)
	if h := l.head(); h != 0 {
		t.Fatalf("head of an empty log = %d, want 0", h)
	}
	l.publish("a", true)
	l.publish("b", true)
	l.publish("a", false)
	events, next, ok := l.read(0, 2)
	if !ok || next != 2 || len(events) != 2 || events[0] != (presenceEvent{"a", true}) || events[1] != (presenceEvent{"b", true}) {
		t.Fatalf("read(0, 2) = %v, %d, %v", events, next, ok)
	}
	events, next, ok = l.read(next, 10)
	if !ok || next != 3 || len(events) != 1 || events[0] != (presenceEvent{"a", false}) {
		t.Fatalf("read(2, 10) = %v, %d, %v", events, next, ok)
	}
	if events, next, ok = l.read(3, 10); !ok || next != 3 || len(events) != 0 {
		t.Fatalf("read at head = %v, %d, %v; want nothing", events, next, ok)
	}
}

func TestPresenceLogDropsOldEvents(t *testing.T) {
	l := newPresenceLog(1) // keeps at least 4096 events
	for i := range l.max + 10 {
		l.publish(fmt.Sprint(i), true)
	}
	if got := len(l.events); got > l.max {
		t.Fatalf("log holds %d events, more than its bound %d", got, l.max)
	}
	if _, _, ok := l.read(0, 1); ok {
		t.Error("read from a dropped position succeeded, want ok = false")
	}
	head := l.head()
	if head != uint64(l.max+10) {
		t.Errorf("head = %d, want %d", head, l.max+10)
	}
	events, _, ok := l.read(head-1, 1)
	if !ok || len(events) != 1 || events[0].key != fmt.Sprint(l.max+9) {
		t.Errorf("read of the newest event = %v, %v", events, ok)
	}
}

func TestPresenceGateTakesTurns(t *testing.T) {
	g := &presenceGate{free: 1}
	a, b, c := &wsSession{}, &wsSession{}, &wsSession{}
	if !g.enter(a) {
		t.Fatal("first session did not get the free token")
	}
	if g.enter(b) || !b.presWaiting {
		t.Fatal("second session got a token while none was free")
	}
	if g.enter(c) || !c.presWaiting {
		t.Fatal("third session got a token while none was free")
	}
	if len(g.waiting) != 2 || g.waiting[0] != b || g.waiting[1] != c {
		t.Fatalf("waiting = %v, want b then c", g.waiting)
	}
	if g.free != 0 {
		t.Fatalf("free = %d, want 0 while a holds the token", g.free)
	}
}
