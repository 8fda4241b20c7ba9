package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

// restSession is a keyless REST client of a relay process.
type restSession struct {
	t     *testing.T
	base  string
	key   *protocol.KeyPair
	token string
}

func (s *restSession) call(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func registerKeyless(t *testing.T, base string) *restSession {
	t.Helper()
	key, _ := protocol.GenerateKeyPair()
	s := &restSession{t: t, base: base, key: key}
	_, ch := s.call("POST", "/v1/challenge", nil)
	sig := key.Sign([]byte(ch["challenge"].(string)))
	status, reg := s.call("POST", "/v1/register", map[string]any{
		"publicKey": key.PublicKey().String(), "nonce": ch["nonce"], "signature": hex.EncodeToString(sig)})
	if status != 200 {
		t.Fatalf("REST register: %d %v", status, reg)
	}
	s.token = reg["token"].(string)
	return s
}

// tamper returns a copy of env whose payload no longer matches its ID and signature.
func tamper(env *protocol.Envelope) *protocol.Envelope {
	bad := *env
	bad.Payload = json.RawMessage(`{"text":"forged"}`)
	return &bad
}

// waitEnvelope waits for an envelope event with the given ID on a node's stdout.
func waitEnvelope(t *testing.T, p *process, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ev := p.nextEvent(t, time.Until(deadline))
		if ev["event"] != "envelope" {
			continue
		}
		if env, _ := ev["envelope"].(map[string]any); env["id"] == id {
			return ev
		}
	}
	t.Fatalf("envelope %s never arrived", id)
	return nil
}

// TestEndToEndNodesRelayAndREST runs two agent nodes and a relay as processes, plus a REST
// client, and checks that each reaches the others, that a forged envelope is rejected at each
// entry, and that every process stops cleanly.
func TestEndToEndNodesRelayAndREST(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "jwt")
	if err := os.WriteFile(secret, []byte("an-end-to-end-test-secret-of-48-bytes-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	relay := startAgora(t, bin, "--config", filepath.Join(dir, "relay.json"), "--json", "relay",
		"--ws-addr", "127.0.0.1:0", "--rest-addr", "127.0.0.1:0", "--jwt-secret-file", secret,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--private-network", "--sender-rate-limit", "0")
	rev := relay.nextEvent(t, 30*time.Second)
	relayAddr := rev["addrs"].([]any)[0].(string)
	wsURL, restURL := rev["ws"].(string), rev["rest"].(string)

	aCfg, bCfg := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	a, aev := startNode(t, bin, aCfg, "--bootstrap", relayAddr, "--private-network")
	b, bev := startNode(t, bin, bCfg, "--bootstrap", relayAddr, "--private-network")
	aKey, bKey := aev["publicKey"].(string), bev["publicKey"].(string)
	rest := registerKeyless(t, restURL)
	restKey := rest.key.PublicKey().String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Node A to node B over libp2p.
	out, errOut, code := runAgora(t, bin, "--config", aCfg, "--json", "send", bKey, "a to b",
		"--addr", bev["addrs"].([]any)[0].(string), "--direct")
	if code != 0 {
		t.Fatalf("A to B: exit %d\n%s%s", code, out, errOut)
	}
	var sent map[string]any
	_ = json.Unmarshal([]byte(strings.TrimSpace(out)), &sent)
	waitEnvelope(t, b, sent["id"].(string))

	// The REST client to node A, through the relay's mesh connection to A.
	toA, _ := protocol.CreateEnvelope(rest.key, "request", []string{aKey}, map[string]string{"text": "rest to a"}, nil)
	if status, body := rest.call("POST", "/v1/send", map[string]any{"to": aKey, "envelope": toA}); status != 200 {
		t.Fatalf("REST to A: %d %v", status, body)
	}
	if ev := waitEnvelope(t, a, toA.ID); ev["via"].(map[string]any)["kind"] != "forwarded" {
		t.Fatalf("REST to A arrived via %v, want forwarded", ev["via"])
	}

	// Node B's identity to the REST client through the relay's WebSocket door.
	if out, errOut, code := runAgora(t, bin, "--config", bCfg, "send", restKey, "b to rest",
		"--relay", wsURL, "--relay-only"); code != 0 {
		t.Fatalf("B to REST: exit %d\n%s%s", code, out, errOut)
	}
	_, msgs := rest.call("GET", "/v1/messages", nil)
	if list := msgs["messages"].([]any); len(list) != 1 || list[0].(map[string]any)["from"] != bKey {
		t.Fatalf("REST messages = %v, want one from B", msgs)
	}

	// A forged envelope is rejected at each entry: WebSocket, REST and libp2p.
	wsKey, _ := protocol.GenerateKeyPair()
	ws, err := client.Dial(ctx, wsURL, wsKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	valid, _ := protocol.CreateEnvelope(wsKey, "request", []string{restKey}, map[string]string{"text": "x"}, nil)
	if _, err := ws.SendEnvelope(ctx, restKey, tamper(valid)); err == nil || !strings.Contains(err.Error(), "id_mismatch") {
		t.Fatalf("forged envelope over WebSocket: %v, want id_mismatch", err)
	}
	restValid, _ := protocol.CreateEnvelope(rest.key, "request", []string{wsKey.PublicKey().String()}, "x", nil)
	status, body := rest.call("POST", "/v1/send", map[string]any{"to": wsKey.PublicKey().String(), "envelope": tamper(restValid)})
	if status != 400 || body["reason"] != "id_mismatch" {
		t.Fatalf("forged envelope over REST: %d %v, want 400 id_mismatch", status, body)
	}
	probeKey, _ := protocol.GenerateKeyPair()
	probe, err := node.New(ctx, node.Config{Identity: probeKey, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		DisableMDNS: true, DHTMode: node.DHTOff})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	aID, err := probe.Connect(ctx, aev["addrs"].([]any)[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	meshValid, _ := protocol.CreateEnvelope(probeKey, "request", []string{aKey}, "x", nil)
	if err := probe.Forward(ctx, aID, tamper(meshValid)); protocol.ReasonOf(err) != protocol.ReasonIDMismatch {
		t.Fatalf("forged envelope over libp2p: %v, want id_mismatch", err)
	}

	for name, p := range map[string]*process{"node A": a, "node B": b, "relay": relay} {
		if code := p.stop(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM; stderr:\n%s", name, code, p.stderr.String())
		}
	}
}
