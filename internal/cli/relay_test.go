package cli

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestRelayFlagErrors(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--ws-addr", "9470"}, "invalid --ws-addr"},
		{[]string{"--ws-addr", ":9470"}, "the host is empty"},
		{[]string{"--rest-addr", "127.0.0.1:http-nope"}, "invalid --rest-addr"},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key"},
		{[]string{"--sender-rate-limit", "-1"}, "invalid --sender-rate-limit"},
		{[]string{"--max-peers", "0"}, "invalid --max-peers"},
		{[]string{"--ws-max-conns", "-1"}, "invalid --ws-max-conns"},
		{[]string{"--ws-max-conns-per-ip", "-5"}, "invalid --ws-max-conns-per-ip"},
		{[]string{"--max-sessions-per-key", "-1"}, "invalid --max-sessions-per-key"},
		{[]string{"--message-ttl", "-1s"}, "invalid --message-ttl"},
		{[]string{"--message-ttl", "soon"}, "invalid argument"},
		{[]string{"--storage-peers", "abc"}, "invalid --storage-peers"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,not-an-ip"}, `"not-an-ip"`},
	}
	for _, tc := range cases {
		r := runCLI(t, "", append([]string{"--config", cfg, "relay"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestRelayHelpNamesUnits(t *testing.T) {
	isolate(t)
	help := mustRun(t, "relay", "--help").stdout
	for _, want := range []string{"--ws-addr", "127.0.0.1:9470", "--message-ttl", "such as 24h", "per minute", "--jwt-secret-file"} {
		if !strings.Contains(help, want) {
			t.Errorf("relay --help lacks %q", want)
		}
	}
}

// clearRelayEnv empties the earlier relay's environment variables for the test.
func clearRelayEnv(t *testing.T) {
	for _, name := range []string{"RELAY_PORT", "PORT", "REST_PORT", "JWT_SECRET", "AGORA_RELAY_JWT_SECRET",
		"AGORA_JWT_EXPIRY_SECONDS", "MAX_PEERS", "MESSAGE_TTL_MS", "RATE_LIMIT_RPM", "ALLOWED_ORIGINS",
		"AGORA_ALLOW_UNAUTHENTICATED_REGISTER"} {
		t.Setenv(name, "")
	}
}

// startRelayCommand runs `agora relay` in-process on free localhost ports and returns its
// listening event.
func startRelayCommand(t *testing.T, extra ...string) (*background, map[string]any) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "relay.json")
	args := append([]string{"--config", cfg, "--json", "relay", "--ws-addr", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0"}, extra...)
	b := startBackground(t, args...)
	ev := b.next(t)
	if ev["event"] != "listening" {
		t.Fatalf("first event = %v", ev)
	}
	return b, ev
}

func dialRelay(t *testing.T, url string, key *protocol.KeyPair) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func nextMessage(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	select {
	case m := <-c.Messages():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return client.Message{}
}

func TestRelaySendAndDiscover(t *testing.T) {
	isolate(t)
	clearRelayEnv(t)
	relay, ev := startRelayCommand(t)
	ws, _ := ev["ws"].(string)
	if !strings.HasPrefix(ws, "ws://127.0.0.1:") {
		t.Fatalf("ws = %v", ev["ws"])
	}
	if _, has := ev["rest"]; has {
		t.Fatalf("rest present without REST: %v", ev)
	}
	if addrs, _ := ev["addrs"].([]any); len(addrs) == 0 || !strings.Contains(addrs[0].(string), "/ip4/127.0.0.1/") {
		t.Fatalf("addrs = %v", ev["addrs"])
	}

	bob := newKey(t)
	bobConn := dialRelay(t, ws, bob)
	if bobConn.RelayKey() != ev["publicKey"] {
		t.Fatalf("relay key %s, listening event %v", bobConn.RelayKey(), ev["publicKey"])
	}
	cfg := newConfig(t)
	sent := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "send", bob.PublicKey().String(), "via relay", "--relay", ws))
	if sent["transport"] != "relay" {
		t.Fatalf("send = %v", sent)
	}
	m := nextMessage(t, bobConn)
	if m.Envelope.ID != sent["id"] || string(m.Envelope.Payload) != `{"text":"via relay"}` {
		t.Fatalf("bob received %+v", m.Envelope)
	}

	found := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "peers", "discover", "--relay", ws,
		"--relay-pubkey", ev["peerId"].(string), "--save"))
	if found["relayPublicKey"] != ev["publicKey"] || found["peersSaved"] != float64(1) {
		t.Fatalf("discover = %v", found)
	}
	if c := loadConfig(t, cfg); len(c.Peers) != 1 || c.Peers[0].PublicKey != bob.PublicKey().String() {
		t.Fatalf("saved peers = %+v", c.Peers)
	}
	text := mustRun(t, "--config", cfg, "peers", "discover", "--relay", ws, "--limit", "1").stdout
	if !strings.Contains(text, "@"+bob.PublicKey().Short()) {
		t.Fatalf("text discover = %q", text)
	}

	// A relay that proves another key is rejected.
	other := newKey(t).PublicKey().String()
	r := runCLI(t, "", "--config", cfg, "peers", "discover", "--relay", ws, "--relay-pubkey", other)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "identified itself") {
		t.Fatalf("wrong relay key: exit %d, %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "--config", cfg, "send", bob.PublicKey().String(), "x", "--relay", "ws://127.0.0.1:1", "--timeout", "5s")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "relay: dial relay") {
		t.Fatalf("unreachable relay: exit %d, %q", r.code, r.stderr)
	}
	if code := relay.stop(t); code != ExitOK {
		t.Fatalf("relay exit %d; stderr:\n%s", code, relay.stderr.String())
	}
}

func TestRelayRESTAndEnvironment(t *testing.T) {
	isolate(t)
	clearRelayEnv(t)
	secret := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newConfig(t)
	r := runCLI(t, "", "--config", cfg, "relay", "--ws-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "needs a JWT secret") {
		t.Fatalf("REST without secret: exit %d, %q", r.code, r.stderr)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tooshort"), 0o600)
	r = runCLI(t, "", "--config", cfg, "relay", "--rest-addr", "127.0.0.1:0", "--jwt-secret-file", short)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "at least 32") {
		t.Fatalf("short secret: exit %d, %q", r.code, r.stderr)
	}
	t.Setenv("RELAY_PORT", "not-a-port")
	r = runCLI(t, "", "--config", cfg, "relay")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "RELAY_PORT") {
		t.Fatalf("bad RELAY_PORT: exit %d, %q", r.code, r.stderr)
	}
	// The flag wins over the environment.
	t.Setenv("RELAY_PORT", "1")
	relay, ev := startRelayCommand(t, "--rest-addr", "127.0.0.1:0", "--jwt-secret-file", secret)
	rest, _ := ev["rest"].(string)
	if !strings.HasPrefix(rest, "http://127.0.0.1:") {
		t.Fatalf("rest = %v", ev["rest"])
	}
	resp, err := http.Get(rest + "/v1/peers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/peers without a token: %s", resp.Status)
	}
	wsHTTP := "http" + strings.TrimPrefix(ev["ws"].(string), "ws")
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(wsHTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
	if code := relay.stop(t); code != ExitOK {
		t.Fatalf("relay exit %d", code)
	}
}

func TestRelayStoresForOfflinePeer(t *testing.T) {
	isolate(t)
	clearRelayEnv(t)
	carol := newKey(t)
	relay, ev := startRelayCommand(t, "--storage-peers", carol.PublicKey().String(), "--storage-dir", t.TempDir())
	ws := ev["ws"].(string)
	cfg := newConfig(t)
	sent := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "send", carol.PublicKey().String(), "while away", "--relay", ws))
	carolConn := dialRelay(t, ws, carol)
	if m := nextMessage(t, carolConn); m.Envelope.ID != sent["id"] {
		t.Fatalf("carol received %s, want the stored %v", m.Envelope.ID, sent["id"])
	}
	if code := relay.stop(t); code != ExitOK {
		t.Fatalf("relay exit %d", code)
	}
}
