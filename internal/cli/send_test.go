package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

// webhookPeer is a real HTTP server that accepts envelopes the way the earlier implementation's
// receivers do.
type webhookPeer struct {
	srv    *httptest.Server
	token  string
	status int

	mu       sync.Mutex
	received []*protocol.Envelope
	requests int
}

func newWebhookPeer(t *testing.T, token string, status int) *webhookPeer {
	p := &webhookPeer{token: token, status: status}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *webhookPeer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if r.URL.Path != "/hooks/agent" || r.Method != http.MethodPost {
		http.Error(w, "wrong path or method "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+p.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	var body webhookRequest
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	env, err := protocol.DecodeWebhook(body.Message, protocol.DefaultLimits())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.received = append(p.received, env)
	w.WriteHeader(p.status)
}

func TestSendWebhookDelivers(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t)
	peer := newWebhookPeer(t, "tok", http.StatusOK)
	mustRun(t, "--config", cfg, "peers", "add", "bob", "--pubkey", bob.PublicKey().String(),
		"--url", peer.srv.URL+"/hooks", "--token", "tok")
	v := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "send", "bob", "hello bob"))
	if v["status"] != "sent" || v["transport"] != "webhook" {
		t.Fatalf("send = %v", v)
	}
	if len(peer.received) != 1 {
		t.Fatalf("peer received %d envelopes", len(peer.received))
	}
	env := peer.received[0]
	self := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "whoami"))
	if env.Type != "publish" || string(env.Payload) != `{"text":"hello bob"}` || env.From != self["publicKey"] {
		t.Fatalf("envelope = %+v", env)
	}
	if len(env.To) != 1 || env.To[0] != bob.PublicKey().String() || env.ID != v["id"] {
		t.Fatalf("envelope routing = %v, id %s", env.To, env.ID)
	}

	mustRun(t, "--config", cfg, "send", "bob", "--type", "request", "--payload", `{"b":2,"a":1}`, "--in-reply-to", env.ID)

	// Inline references to configured peers become full keys; other @words stay.
	mustRun(t, "--config", cfg, "send", "bob", "ask @bob and @nobody")
	text := string(peer.received[2].Payload)
	if want := `{"text":"ask @` + bob.PublicKey().String() + ` and @nobody"}`; text != want {
		t.Fatalf("payload = %s, want %s", text, want)
	}
	got := peer.received[1]
	if got.Type != "request" || string(got.Payload) != `{"a":1,"b":2}` || got.InReplyTo != env.ID {
		t.Fatalf("typed envelope = %+v", got)
	}
}

func TestSendWebhookRejected(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t)
	peer := newWebhookPeer(t, "right", http.StatusOK)
	mustRun(t, "--config", cfg, "peers", "add", "bob", "--pubkey", bob.PublicKey().String(),
		"--url", peer.srv.URL+"/hooks", "--token", "wrong")
	r := runCLI(t, "", "--config", cfg, "send", "bob", "hi")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "bad token") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if peer.requests != 1 {
		t.Fatalf("%d requests; an HTTP error must not be retried", peer.requests)
	}
}

func TestSendWebhookUnreachable(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t)
	peer := newWebhookPeer(t, "tok", http.StatusOK)
	url := peer.srv.URL
	peer.srv.Close()
	mustRun(t, "--config", cfg, "peers", "add", "bob", "--pubkey", bob.PublicKey().String(), "--url", url, "--token", "tok")
	r := runCLI(t, "", "--config", cfg, "--json", "send", "bob", "hi", "--timeout", "5s")
	v := decodeJSON(t, r)
	if r.code != ExitFailure || v["status"] != "failed" || !strings.Contains(r.stderr, "webhook: POST") {
		t.Fatalf("exit %d, stdout %s, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSendUsageErrors(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t).PublicKey().String()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{bob}, ExitUsage, "missing message"},
		{[]string{bob, "hi", "--payload", "{}"}, ExitUsage, "not both"},
		{[]string{bob, "--payload", "{"}, ExitUsage, "invalid --payload"},
		{[]string{bob, "hi", "--type", ""}, ExitUsage, "invalid --type"},
		{[]string{bob, "hi", "--direct", "--relay-only"}, ExitUsage, "direct"},
		{[]string{bob, "hi", "--timeout", "0s"}, ExitUsage, "invalid --timeout"},
		{[]string{bob, "hi", "--addr", "nonsense"}, ExitUsage, "invalid --addr"},
		{[]string{bob, "hi"}, ExitFailure, "no way to reach"},
		{[]string{bob, "hi", "--relay-only"}, ExitFailure, "no way to reach"},
	}
	for _, tc := range cases {
		r := runCLI(t, "", append([]string{"--config", cfg, "send"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args[1:], r.code, r.stderr, tc.code, tc.want)
		}
	}
}
