package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

// buildAgora compiles this command into a temporary directory.
func buildAgora(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agora")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// process is a running agora command whose stdout lines arrive on lines.
type process struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncWriter
	done   chan struct{}
}

func startAgora(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "AGORA_CONFIG=", "AGORA_CONFIG_DIR=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 64), stderr: &syncWriter{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// syncWriter lets the exec package's copy goroutine write stderr while the test reads it.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// nextEvent waits for the next JSON line on stdout.
func (p *process) nextEvent(t *testing.T, timeout time.Duration) map[string]any {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("process exited before the next event; stderr:\n%s", p.stderr.String())
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s; stderr:\n%s", timeout, p.stderr.String())
	}
	return nil
}

// stop sends SIGTERM and returns the exit code.
func (p *process) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not exit within 20s of SIGTERM; stderr:\n%s", p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func runAgora(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "AGORA_CONFIG=", "AGORA_CONFIG_DIR=")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func startNode(t *testing.T, bin, cfg string, extra ...string) (*process, map[string]any) {
	t.Helper()
	args := append([]string{"--config", cfg, "--json", "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false"}, extra...)
	p := startAgora(t, bin, args...)
	ev := p.nextEvent(t, 30*time.Second)
	if ev["event"] != "listening" {
		t.Fatalf("first event = %v", ev)
	}
	addrs, _ := ev["addrs"].([]any)
	if len(addrs) == 0 || !strings.HasSuffix(addrs[0].(string), "/p2p/"+ev["peerId"].(string)) {
		t.Fatalf("listening addrs = %v", ev["addrs"])
	}
	return p, ev
}

func TestNodesExchangeEnvelopes(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	cfgA, cfgB := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	nodeA, evA := startNode(t, bin, cfgA)
	nodeB, evB := startNode(t, bin, cfgB)
	addrB := evB["addrs"].([]any)[0].(string)

	out, errOut, code := runAgora(t, bin, "--config", cfgA, "--json", "send", evB["publicKey"].(string), "hello B",
		"--addr", addrB, "--direct", "--timeout", "30s")
	if code != 0 {
		t.Fatalf("send exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent["status"] != "sent" || sent["transport"] != "libp2p" {
		t.Fatalf("send output = %s (%v)", out, err)
	}
	ev := nodeB.nextEvent(t, 20*time.Second)
	env, _ := ev["envelope"].(map[string]any)
	if ev["event"] != "envelope" || env["id"] != sent["id"] || env["from"] != evA["publicKey"] {
		t.Fatalf("B received %v", ev)
	}
	if payload, _ := env["payload"].(map[string]any); payload["text"] != "hello B" || env["type"] != "publish" {
		t.Fatalf("B received payload %v type %v", env["payload"], env["type"])
	}
	if via, _ := ev["via"].(map[string]any); via["kind"] != "direct" {
		t.Fatalf("via = %v", ev["via"])
	}

	// A peer configured with its multiaddr needs no --addr.
	addrA := evA["addrs"].([]any)[0].(string)
	if _, errOut, code := runAgora(t, bin, "--config", cfgB, "peers", "add", "alpha", "--pubkey", evA["peerId"].(string), "--addr", addrA); code != 0 {
		t.Fatalf("peers add: %s", errOut)
	}
	if out, errOut, code := runAgora(t, bin, "--config", cfgB, "send", "alpha", "hello A"); code != 0 {
		t.Fatalf("send to alpha exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if ev := nodeA.nextEvent(t, 20*time.Second); ev["envelope"].(map[string]any)["payload"].(map[string]any)["text"] != "hello A" {
		t.Fatalf("A received %v", ev)
	}

	if code := nodeA.stop(t); code != 0 {
		t.Fatalf("node A exit %d after SIGTERM; stderr:\n%s", code, nodeA.stderr.String())
	}
	// With A gone, a direct send fails with a non-zero exit.
	if _, errOut, code := runAgora(t, bin, "--config", cfgB, "send", "alpha", "again", "--direct", "--timeout", "10s"); code != 1 || !strings.Contains(errOut, "libp2p") {
		t.Fatalf("send to a stopped node: exit %d, stderr %s", code, errOut)
	}
	if code := nodeB.stop(t); code != 0 {
		t.Fatalf("node B exit %d after SIGTERM", code)
	}
}

func TestSendFindsPeerThroughDHT(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	cfgR, cfgB, cfgA := filepath.Join(dir, "r.json"), filepath.Join(dir, "b.json"), filepath.Join(dir, "a.json")
	_, evR := startNode(t, bin, cfgR, "--relay-service", "--private-network")
	boot := evR["addrs"].([]any)[0].(string)
	nodeB, evB := startNode(t, bin, cfgB, "--bootstrap", boot, "--private-network")
	if _, errOut, code := runAgora(t, bin, "--config", cfgA, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}

	// A has only B's key and the bootstrap peer, so the address must come from the DHT.
	out, errOut, code := runAgora(t, bin, "--config", cfgA, "--json", "send", evB["peerId"].(string), "via the DHT",
		"--bootstrap", boot, "--private-network", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("send exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	ev := nodeB.nextEvent(t, 20*time.Second)
	if payload, _ := ev["envelope"].(map[string]any)["payload"].(map[string]any); payload["text"] != "via the DHT" {
		t.Fatalf("B received %v", ev)
	}
	// --direct rules out the DHT, and A has no address for B.
	if _, _, code := runAgora(t, bin, "--config", cfgA, "send", evB["peerId"].(string), "x", "--bootstrap", boot, "--direct"); code != 1 {
		t.Fatalf("--direct without an address: exit %d, want 1", code)
	}
}

func TestRelayProcessStartsAndStops(t *testing.T) {
	bin := buildAgora(t)
	cfg := filepath.Join(t.TempDir(), "relay.json")
	relay := startAgora(t, bin, "--config", cfg, "--json", "relay", "--ws-addr", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0")
	ev := relay.nextEvent(t, 30*time.Second)
	if ev["event"] != "listening" || !strings.HasPrefix(ev["ws"].(string), "ws://127.0.0.1:") {
		t.Fatalf("first event = %v", ev)
	}
	if _, has := ev["rest"]; has {
		t.Fatalf("rest present without REST: %v", ev)
	}
	// The relay created an identity on first run; a node client sends through it.
	dir := t.TempDir()
	cfgB := filepath.Join(dir, "b.json")
	if _, errOut, code := runAgora(t, bin, "--config", cfgB, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	out, errOut, code := runAgora(t, bin, "--config", cfgB, "--json", "peers", "discover", "--relay", ev["ws"].(string))
	if code != 0 || !strings.Contains(out, ev["publicKey"].(string)) {
		t.Fatalf("discover exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code := relay.stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM; stderr:\n%s", code, relay.stderr.String())
	}
}

// TestConfigSurvivesSIGKILL kills `peers add` processes at random points of their run. The
// config must stay parseable with every peer either fully present or absent.
func TestConfigSurvivesSIGKILL(t *testing.T) {
	bin := buildAgora(t)
	cfg := filepath.Join(t.TempDir(), "config.json")
	if _, errOut, code := runAgora(t, bin, "--config", cfg, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	for i := range 30 {
		k, err := protocol.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config", cfg, "peers", "add", fmt.Sprintf("p%d", i), "--pubkey", k.PublicKey().String())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%10) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		c, err := config.Load(cfg, nil)
		if err != nil {
			t.Fatalf("after SIGKILL %d: %v", i, err)
		}
		if c.Identity == nil {
			t.Fatalf("after SIGKILL %d: identity lost", i)
		}
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
