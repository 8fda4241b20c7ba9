package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
	"github.com/agora-p2p/agora/relaymode/store"
)

// startStoreRelay starts a relay process that stores envelopes for storage on dir.
func startStoreRelay(t *testing.T, bin, cfg, dir, storage string, extra ...string) (*process, map[string]any) {
	t.Helper()
	args := append([]string{"--config", cfg, "--json", "relay", "--ws-addr", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--sender-rate-limit", "0",
		"--storage-peers", storage, "--storage-dir", dir}, extra...)
	p := startAgora(t, bin, args...)
	ev := p.nextEvent(t, 30*time.Second)
	if ev["event"] != "listening" {
		t.Fatalf("first event = %v", ev)
	}
	return p, ev
}

// sendUntilError sends envelopes to storage one at a time until the connection fails or n are
// sent. It returns the IDs the relay reported as stored, in order, the ID whose verdict was
// lost with the connection, if any, and the IDs the relay rejected.
func sendUntilError(ctx context.Context, c *client.Client, storage string, n int) (stored []string, unknown string, refused []string) {
	for i := range n {
		id, kind, err := c.Send(ctx, storage, "publish", map[string]int{"n": i}, nil)
		if err != nil {
			if _, rejected := err.(*client.Error); rejected {
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
// Every envelope reported as stored must reach the storage peer exactly once, in order.
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

// metricValue returns the first sample line of the metric name, or "" when it has none.
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
	rejectedBefore := metricValue(before, "agora_relay_envelopes_rejected_total")

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
	if rejected := metricValue(after, "agora_relay_envelopes_rejected_total"); rejected == "" || rejected == rejectedBefore {
		t.Fatalf("rejected counter %q before, %q after a forged envelope", rejectedBefore, rejected)
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

// writeTestPKI writes a test CA and a server certificate for 127.0.0.1 signed by it, and
// returns the certificate and key file paths and a pool holding the CA.
func writeTestPKI(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agora test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(crand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)

	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(crand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}

	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return certFile, keyFile, pool
}

// TestRelayProcessServesWSS starts a relay with a certificate from a test CA. Clients trusting
// the CA exchange a message over wss://; a plain ws:// client fails and the relay keeps running.
func TestRelayProcessServesWSS(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	certFile, keyFile, pool := writeTestPKI(t, dir)
	relay := startAgora(t, bin, "--config", filepath.Join(dir, "relay.json"), "--json", "relay",
		"--ws-addr", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--tls-cert", certFile, "--tls-key", keyFile)
	ev := relay.nextEvent(t, 30*time.Second)
	wss, _ := ev["ws"].(string)
	if !strings.HasPrefix(wss, "wss://127.0.0.1:") {
		t.Fatalf("ws = %q, want wss://127.0.0.1:…", wss)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &client.Options{Dialer: &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}}

	plain, err := client.Dial(ctx, "ws"+strings.TrimPrefix(wss, "wss"), mustKey(t), nil)
	if err == nil {
		_ = plain.Close()
		t.Fatal("plain ws:// to the TLS port registered")
	}
	if _, err := client.Dial(ctx, wss, mustKey(t), nil); err == nil {
		t.Fatal("wss:// without trusting the test CA registered")
	}

	bKey := mustKey(t)
	a, err := client.Dial(ctx, wss, mustKey(t), opts)
	if err != nil {
		t.Fatalf("wss:// dial after a failed plain dial: %v", err)
	}
	defer a.Close()
	b, err := client.Dial(ctx, wss, bKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id, kind, err := a.Send(ctx, bKey.PublicKey().String(), "publish", "over tls", nil)
	if err != nil || kind != "delivered" {
		t.Fatalf("send over wss: %q %v", kind, err)
	}
	select {
	case m := <-b.Messages():
		if m.Envelope.ID != id {
			t.Fatalf("received %s, want %s", m.Envelope.ID, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message over wss never arrived")
	}
	if code := relay.stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM; stderr:\n%s", code, relay.stderr.String())
	}
}

func mustKey(t *testing.T) *protocol.KeyPair {
	t.Helper()
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRelayStoreQuotaFull fills a storage peer's count quota through a relay process and checks
// that the next sender gets quota_exceeded while the relay keeps serving.
func TestRelayStoreQuotaFull(t *testing.T) {
	bin := buildAgora(t)
	dir := t.TempDir()
	peer := mustKey(t)
	storage := peer.PublicKey().String()
	relay, ev := startStoreRelay(t, bin, filepath.Join(dir, "relay.json"), filepath.Join(dir, "store"), storage,
		"--storage-max-messages", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender, err := client.Dial(ctx, ev["ws"].(string), mustKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	for i := 0; i < 2; i++ {
		if _, kind, err := sender.Send(ctx, storage, "publish", i, nil); err != nil || kind != "stored" {
			t.Fatalf("send %d: %v %q, want stored", i, err, kind)
		}
	}
	_, _, err = sender.Send(ctx, storage, "publish", 2, nil)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != "quota_exceeded" {
		t.Fatalf("send over the quota: %v, want quota_exceeded", err)
	}
	if code := relay.stop(t); code != 0 {
		t.Fatalf("relay exited with %d", code)
	}
}
