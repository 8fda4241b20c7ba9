package relaymode

import (
	"errors"
	"testing"
	"time"
)

func errorAs(err error, target any) bool { return errors.As(err, target) }

func TestLogSamplerLimitsRepeats(t *testing.T) {
	s := newLogSampler(10 * time.Second)
	now := time.Now()
	if ok, _ := s.allow("a", now); !ok {
		t.Fatal("first line suppressed")
	}
	for i := 0; i < 5; i++ {
		if ok, _ := s.allow("a", now.Add(time.Second)); ok {
			t.Fatalf("repeat %d inside the interval was allowed", i)
		}
	}
	if ok, _ := s.allow("b", now); !ok {
		t.Fatal("another key was suppressed")
	}
	ok, skipped := s.allow("a", now.Add(11*time.Second))
	if !ok || skipped != 5 {
		t.Fatalf("after the interval: allowed %v, skipped %d; want true, 5", ok, skipped)
	}
}
