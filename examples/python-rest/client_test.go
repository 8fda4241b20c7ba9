// Package pythonrest runs the Python REST client example against a real agora relay process.
package pythonrest

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

// startRelay builds agora and starts `agora relay` with REST on; it returns the WebSocket and
// REST URLs.
func startRelay(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "agora")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/agora")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	secret := filepath.Join(dir, "jwt-secret")
	if err := os.WriteFile(secret, []byte("a-test-secret-that-is-long-enough-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.json"), "--json", "relay",
		"--ws-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--jwt-secret-file", secret,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--sender-rate-limit", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("relay did not stop within 15 s of SIGINT")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read the listening line: %v", err)
	}
	var ev struct{ WS, REST string }
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.WS == "" || ev.REST == "" {
		t.Fatalf("listening line %q lacks ws or rest: %v", line, err)
	}
	return ev.WS, ev.REST
}

func TestPythonClient(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required for this example: %v", err)
	}
	wsURL, restURL := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A Go agent on the WebSocket door replies to each request with its text in upper case.
	key, _ := protocol.GenerateKeyPair()
	agent, err := client.Dial(ctx, wsURL, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	go func() {
		for m := range agent.Messages() {
			var p struct{ Text string }
			_ = json.Unmarshal(m.Envelope.Payload, &p)
			_, _, _ = agent.Send(ctx, m.From, "response", map[string]string{"text": strings.ToUpper(p.Text)},
				&protocol.CreateOptions{InReplyTo: m.Envelope.ID})
		}
	}()

	cmd := exec.CommandContext(ctx, python, "client.py", "--rest", restURL, "--to", key.PublicKey().String(), "--text", "hello from python")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client.py: %v\n%s", err, out)
	}
	events := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("output line %q is not JSON", line)
		}
		events[ev["event"].(string)] = ev
	}
	for _, want := range []string{"registered", "sent", "reply", "disconnected"} {
		if events[want] == nil {
			t.Fatalf("client.py output lacks the %s event:\n%s", want, out)
		}
	}
	reply := events["reply"]
	if reply["from"] != key.PublicKey().String() {
		t.Fatalf("reply from %v, want the Go agent", reply["from"])
	}
	if text := reply["payload"].(map[string]any)["text"]; text != "HELLO FROM PYTHON" {
		t.Fatalf("reply text = %v", text)
	}
}
