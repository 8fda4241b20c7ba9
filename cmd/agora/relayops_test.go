package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
	"github.com/agora-p2p/agora/relaymode/store"
)

// startStoreRelay starts a relay process that stores envelopes for storage on dir.
func startStoreRelay(t *testing.T, bin, cfg, dir, storage string) (*process, map[string]any) {
	t.Helper()
	p := startAgora(t, bin, "--config", cfg, "--json", "relay", "--ws-addr", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--sender-rate-limit", "0",
		"--storage-peers", storage, "--storage-dir", dir)
	ev := p.nextEvent(t, 30*time.Second)
	if ev["event"] != "listening" {
		t.Fatalf("first event = %v", ev)
	}
	return p, ev
}

// sendUntilError sends envelopes to storage one at a time until the connection fails or n are
// sent. It returns the IDs the relay answered with stored, in order, and the ID whose answer
// was lost, if any.
func sendUntilError(ctx context.Context, c *client.Client, storage string, n int) (stored []string, unknown string, refused []string) {
	for i := range n {
		id, kind, err := c.Send(ctx, storage, "publish", map[string]int{"n": i}, nil)
		if err != nil {
			if _, isRefusal := err.(*client.Error); isRefusal {
				refused = append(refused, id)
				continue
			}
			return stored, id, refused
		}
		if kind == "stored" {
			stored = append(stored, id)
		}
	}
	return stored, "", refused
}

// drain receives messages until none arrives for quiet.
func drain(c *client.Client, quiet time.Duration) []string {
	var ids []string
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return ids
			}
			ids = append(ids, m.Envelope.ID)
		case <-time.After(quiet):
			return ids
		}
	}
}

// TestRelayStoreSurvivesSIGKILL kills a storing relay at random moments while a client sends.
// Every envelope answered with stored must reach the storage peer exactly once, in order.
func TestRelayStoreSurvivesSIGKILL(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	cfg, storeDir := filepath.Join(dir, "relay.json"), filepath.Join(dir, "store")
	peerKey, _ := protocol.GenerateKeyPair()
	senderKey, _ := protocol.GenerateKeyPair()
	storage := peerKey.PublicKey().String()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var accepted []string
	mayArrive := map[string]bool{}
	refused := map[string]bool{}
	for round := range 8 {
		relay, ev := startStoreRelay(t, bin, cfg, storeDir, storage)
		c, err := client.Dial(ctx, ev["ws"].(string), senderKey, nil)
		if err != nil {
			t.Fatalf("round %d: dial: %v", round, err)
		}
		killAfter := time.Duration(50+rand.IntN(400)) * time.Millisecond
		go func() {
			time.Sleep(killAfter)
			_ = relay.cmd.Process.Signal(syscall.SIGKILL)
		}()
		ids, unknown, ref := sendUntilError(ctx, c, storage, 100000)
		<-relay.done
		_ = c.Close()
		accepted = append(accepted, ids...)
		if unknown != "" {
			mayArrive[unknown] = true
		}
		for _, id := range ref {
			refused[id] = true
		}
		t.Logf("round %d: killed after %s, %d stored", round, killAfter, len(ids))
	}
	if len(accepted) == 0 {
		t.Fatal("no envelope was stored before the kills")
	}

	relay, ev := startStoreRelay(t, bin, cfg, storeDir, storage)
	peer, err := client.Dial(ctx, ev["ws"].(string), peerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(peer, 3*time.Second)
	_ = peer.Close()
	var inOrder []string
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("envelope %s delivered twice", id)
		}
		seen[id] = true
		switch {
		case refused[id]:
			t.Fatalf("refused envelope %s was delivered", id)
		case mayArrive[id]:
		default:
			inOrder = append(inOrder, id)
		}
	}
	if len(inOrder) != len(accepted) {
		t.Fatalf("storage peer received %d of %d stored envelopes (%d in total)", len(inOrder), len(accepted), len(got))
	}
	for i := range accepted {
		if inOrder[i] != accepted[i] {
			t.Fatalf("delivery %d is %s, want %s: order differs from acceptance", i, inOrder[i], accepted[i])
		}
	}

	// Everything was acked, so a second session receives nothing.
	again, err := client.Dial(ctx, ev["ws"].(string), peerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if extra := drain(again, 2*time.Second); len(extra) != 0 {
		t.Fatalf("reconnect received %d envelopes again: %v", len(extra), extra)
	}
	_ = again.Close()
	if code := relay.stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM; stderr:\n%s", code, relay.stderr.String())
	}
}

// scrape returns the /metrics text of the relay whose WebSocket URL is ws.
func scrape(t *testing.T, ws, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http" + strings.TrimPrefix(ws, "ws") + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metricValue returns the text after name on the sample line that starts with name.
func metricValue(text, name string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			return line
		}
	}
	return ""
}

// TestRelaySIGTERMWhileSendingAndMetrics checks /healthz and /metrics of a storing relay under
// traffic, then stops it with SIGTERM while clients send and opens its store afterwards.
func TestRelaySIGTERMWhileSendingAndMetrics(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	peerKey, _ := protocol.GenerateKeyPair()
	storage := peerKey.PublicKey().String()
	relay, ev := startStoreRelay(t, bin, filepath.Join(dir, "relay.json"), storeDir, storage)
	ws := ev["ws"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if code, _ := scrape(t, ws, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	_, before := scrape(t, ws, "/metrics")
	relayedBefore := metricValue(before, "agora_relay_envelopes_relayed_total")

	key, _ := protocol.GenerateKeyPair()
	c, err := client.Dial(ctx, ws, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, kind, err := c.Send(ctx, storage, "publish", "one", nil); err != nil || kind != "stored" {
		t.Fatalf("send: %q %v", kind, err)
	}
	env, _ := protocol.CreateEnvelope(key, "publish", []string{storage}, "x", nil)
	if _, err := c.SendEnvelope(ctx, storage, tamper(env)); err == nil {
		t.Fatal("forged envelope accepted")
	}
	_, after := scrape(t, ws, "/metrics")
	if relayed := metricValue(after, "agora_relay_envelopes_relayed_total"); relayed == relayedBefore || relayed == "" {
		t.Fatalf("relayed counter %q before, %q after", relayedBefore, relayed)
	}
	if rej := metricValue(after, "agora_relay_envelopes_rejected_total"); rej == "" {
		t.Fatalf("no refusal counted after a forged envelope:\n%s", after)
	}
	_ = c.Close()

	senders := make(chan struct{}, 3)
	for range 3 {
		k, _ := protocol.GenerateKeyPair()
		sc, err := client.Dial(ctx, ws, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer func() { senders <- struct{}{} }()
			sendUntilError(ctx, sc, storage, 100000)
			_ = sc.Close()
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if code := relay.stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM under load; stderr:\n%s", code, relay.stderr.String())
	}
	for range 3 {
		<-senders
	}
	st, err := store.Open(store.Options{Dir: storeDir, StoragePeers: []string{storage}, LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("store after SIGTERM: %v", err)
	}
	if err := st.Check(); err != nil {
		t.Fatalf("store check: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
