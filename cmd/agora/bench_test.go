package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchRelayDrivesRelayProcesses runs `agora bench relay` with small numbers. It starts a
// relay process per measurement and the storm's clients in a process of their own.
func TestBenchRelayDrivesRelayProcesses(t *testing.T) {
	bin := buildAgora(t)
	out, stderr, code := runAgora(t, bin, "--json", "bench", "relay", "--relay-bin", bin,
		"--pairs", "1,3", "--sizes", "100", "--messages", "600", "--latency-rate", "200",
		"--idle", "50", "--storm", "60", "--storm-rate", "1000", "--timeout", "2m")
	if code != 0 {
		t.Fatalf("bench relay exited %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	events := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("output line is not JSON: %q", line)
		}
		name, _ := ev["event"].(string)
		events[name] = append(events[name], ev)
	}
	if n := len(events["yardstick"]); n != 1 {
		t.Fatalf("%d yardstick events, want 1\n%s", n, out)
	}
	if len(events["pairs"]) != 2 || len(events["latency"]) != 1 || len(events["idle"]) != 1 || len(events["storm"]) != 1 {
		t.Fatalf("events = %v, want 2 pairs, 1 latency, 1 idle and 1 storm", out)
	}
	for _, ev := range append(events["pairs"], events["latency"]...) {
		if ev["received"] != ev["messages"] || ev["received"].(float64) <= 0 {
			t.Errorf("%s run received %v of %v messages", ev["event"], ev["received"], ev["messages"])
		}
		if ev["cpuPerMessageNs"].(float64) <= 0 || ev["p99Ns"].(float64) <= 0 {
			t.Errorf("%s run without server CPU or latency figures: %v", ev["event"], ev)
		}
		if _, rejected := ev["rejected"]; rejected {
			t.Errorf("%s run had rejections: %v", ev["event"], ev["rejected"])
		}
	}
	idle := events["idle"][0]
	if idle["conns"].(float64) != 50 || idle["rssAfterBytes"].(float64) <= 0 {
		t.Errorf("idle event %v, want 50 connections and the relay's memory", idle)
	}
	storm := events["storm"][0]
	if storm["clients"].(float64) != 60 || storm["trafficLost"].(float64) != 0 {
		t.Errorf("storm event %v, want 60 clients and no traffic lost", storm)
	}
	if storm["trafficSent"].(float64) <= 0 || storm["trafficReceived"] != storm["trafficSent"] {
		t.Errorf("storm traffic: sent %v, received %v", storm["trafficSent"], storm["trafficReceived"])
	}
}
