package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// background is a command running in-process until its context is cancelled.
type background struct {
	cancel context.CancelFunc
	lines  chan string
	code   chan int
	stderr *syncBuffer
}

func startBackground(t *testing.T, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	b := &background{cancel: cancel, lines: make(chan string, 64), code: make(chan int, 1), stderr: &syncBuffer{}}
	go func() {
		code := Run(ctx, args, Streams{In: strings.NewReader(""), Out: pw, Err: b.stderr})
		pw.Close()
		b.code <- code
	}()
	go func() {
		defer close(b.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.code:
		case <-time.After(20 * time.Second):
			t.Error("command did not return within 20s of cancellation")
		}
	})
	return b
}

func (b *background) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line, ok := <-b.lines:
		if !ok {
			t.Fatalf("command ended early; stderr:\n%s", b.stderr.String())
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no output within 30s; stderr:\n%s", b.stderr.String())
	}
	return nil
}

// stop cancels the command as SIGINT does and returns its exit code.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.code:
		b.code <- code
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("command did not return within 20s of cancellation")
	}
	return -1
}

func TestNodeInProcessSendAndStop(t *testing.T) {
	isolate(t)
	cfgB := newConfig(t)
	b := startBackground(t, "--config", cfgB, "--json", "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false")
	ev := b.next(t)
	if ev["event"] != "listening" {
		t.Fatalf("first event = %v", ev)
	}
	addrs := ev["addrs"].([]any)
	if len(addrs) == 0 {
		t.Fatal("no listen addresses")
	}
	cfgA := newConfig(t)
	mustRun(t, "--config", cfgA, "peers", "add", "bee", "--pubkey", ev["publicKey"].(string), "--addr", addrs[0].(string))
	sent := decodeJSON(t, mustRun(t, "--config", cfgA, "--json", "send", "bee", "--type", "request", "--payload", `{"q":1}`, "--direct"))
	got := b.next(t)
	env := got["envelope"].(map[string]any)
	if env["id"] != sent["id"] || env["type"] != "request" {
		t.Fatalf("received %v, sent %v", got, sent)
	}
	if _, err := protocol.Verify(mustJSON(t, env), protocol.DefaultLimits()); err != nil {
		t.Fatalf("event envelope does not verify: %v", err)
	}
	if code := b.stop(t); code != ExitOK {
		t.Fatalf("exit %d after cancellation; stderr:\n%s", code, b.stderr.String())
	}
}

func TestNodeInvalidListenAddr(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	r := runCLI(t, "", "--config", cfg, "node", "--listen", "nonsense", "--mdns=false")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `invalid --listen address "nonsense"`) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "--config", cfg, "node", "--bootstrap", "/ip4/127.0.0.1/tcp/1", "--mdns=false")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "/p2p/<peer ID>") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNodeTextOutput(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"--config", cfg, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false"},
			Streams{In: strings.NewReader(""), Out: pw, Err: io.Discard})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) == 2 {
			cancel()
		}
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if len(lines) < 2 || !strings.Contains(lines[0], "listening on:") || !strings.Contains(lines[1], "/ip4/127.0.0.1/tcp/") {
		t.Fatalf("text output = %q", lines)
	}
}
