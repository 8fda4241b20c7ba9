package cli

import (
	"strings"
	"testing"
)

func TestBenchRelayRejectsInvalidFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--pid", "42"}, "--pid needs --url"},
		{[]string{"--pairs", "0"}, "counts must be positive"},
		{[]string{"--idle", "-5"}, "counts must be positive"},
		{[]string{"--sizes", "4"}, "at least 8 bytes"},
		{[]string{"--pairs", "10", "--messages", "5"}, "each pair needs a message"},
		{[]string{"--window", "0"}, "must be positive"},
		{[]string{"--latency-rate", "-1"}, "must not be negative"},
		{[]string{"--storm", "x"}, `invalid integer "x"`},
		{[]string{"--url", "ws://127.0.0.1:1", "--pairs", "", "--latency-rate", "0", "--storm", ""}, "needs --pid"},
	}
	for _, tc := range cases {
		args := append([]string{"--config", t.TempDir() + "/c.json", "bench", "relay"}, tc.args...)
		r := runCLI(t, "", args...)
		if r.code != ExitUsage {
			t.Errorf("bench relay %v: exit %d, want %d (usage)\nstderr: %s", tc.args, r.code, ExitUsage, r.stderr)
			continue
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("bench relay %v: stderr %q does not mention %q", tc.args, r.stderr, tc.want)
		}
	}
}

func TestBenchClientsNeedsURL(t *testing.T) {
	r := runCLI(t, "", "--config", t.TempDir()+"/c.json", "bench", "clients", "--count", "3")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "needs --url") {
		t.Errorf("bench clients without --url: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestIntListFlag(t *testing.T) {
	var l intList
	if err := l.Set(" 1, 10 ,100"); err != nil {
		t.Fatal(err)
	}
	if got := l.String(); got != "1,10,100" {
		t.Errorf("intList = %q, want 1,10,100", got)
	}
	if err := l.Set(""); err != nil || len(l) != 0 {
		t.Errorf("empty value gave %v, %v; want an empty list", l, err)
	}
}
