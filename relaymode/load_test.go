package relaymode

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestSlowConsumerCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.SendQueue = 8
	r := startRelay(t, cfg)
	alice, _ := dialClient(t, r)
	fast, fastKey := dialClient(t, r)
	slowKey := newKey(t)
	// The slow client registers, then never reads again.
	slow := registerRaw(t, r, slowKey)
	_ = slow

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	payload := strings.Repeat("x", 64<<10)
	cut := false
	for i := 0; i < 2000 && !cut; i++ {
		_, _, err := alice.Send(ctx, slowKey.PublicKey().String(), "request", payload, nil)
		if err != nil {
			var ce *client.Error
			if !errorAs(err, &ce) || ce.Code != CodeUnknownRecipient {
				t.Fatalf("send %d to the slow client: %v", i, err)
			}
			cut = true
		}
	}
	if !cut {
		t.Fatal("the relay never cut off a client that does not read")
	}
	// Others keep receiving.
	id, _, err := alice.Send(ctx, fastKey.PublicKey().String(), "request", "still flowing", nil)
	if err != nil {
		t.Fatalf("send to a reading client after the cut: %v", err)
	}
	for m := range fast.Messages() {
		if m.Envelope.ID == id {
			return
		}
	}
	t.Fatal("reading client did not get its message")
}

func TestThousandClientsExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 WebSocket connections")
	}
	const clients = 1000
	cfg := testConfig(t)
	cfg.MaxPeers = clients
	cfg.MaxConnectionsPerIP = 0
	r := startRelay(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	keys := make([]*protocol.KeyPair, clients)
	conns := make([]*client.Client, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range keys {
		keys[i] = newKey(t)
	}
	sem := make(chan struct{}, 50)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := client.Dial(ctx, r.WSURL(), keys[i], nil)
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Drain presence events so that no client blocks.
	for _, c := range conns {
		go func(c *client.Client) {
			for range c.Events() {
			}
		}(c)
	}
	// Each client sends one message to the next one, all at once.
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			to := keys[(i+1)%clients].PublicKey().String()
			if _, _, err := conns[i].Send(ctx, to, "request", i, nil); err != nil {
				t.Errorf("client %d send: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	for i, c := range conns {
		select {
		case m := <-c.Messages():
			if m.From != keys[(i+clients-1)%clients].PublicKey().String() {
				t.Fatalf("client %d got a message from %s", i, m.From)
			}
		case <-ctx.Done():
			t.Fatalf("client %d received nothing", i)
		}
	}
}

// TestRegistrationStormKeepsTrafficFlowing registers many clients while a pair exchanges
// messages, and checks that every message arrives.
func TestRegistrationStormKeepsTrafficFlowing(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 500 WebSocket connections")
	}
	const storm = 500
	cfg := testConfig(t)
	cfg.MaxPeers = storm + 10
	cfg.MaxConnectionsPerIP = 0
	r := startRelay(t, cfg)
	alice, _ := dialClient(t, r)
	bob, bobKey := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var conns []*websocket.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := 0; i < storm; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			k, _ := protocol.GenerateKeyPair()
			conn, _, err := websocket.DefaultDialer.DialContext(ctx, r.WSURL(), nil)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			var ch map[string]string
			_ = conn.ReadJSON(&ch)
			sig := k.Sign([]byte(ChallengeText(r.PublicKey(), ch["nonce"])))
			_ = conn.WriteJSON(map[string]string{"type": "register", "publicKey": k.PublicKey().String(), "signature": hex.EncodeToString(sig)})
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}()
	}
	sent := 0
	for sent < 200 {
		if _, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", sent, nil); err != nil {
			t.Fatalf("send %d during the storm: %v", sent, err)
		}
		sent++
	}
	wg.Wait()
	for i := 0; i < sent; i++ {
		select {
		case <-bob.Messages():
		case <-ctx.Done():
			t.Fatalf("bob received %d of %d messages", i, sent)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"PORT": "4000", "REST_PORT": "4001", "AGORA_RELAY_JWT_SECRET": "s", "AGORA_JWT_EXPIRY_SECONDS": "60",
		"MAX_PEERS": "7", "MESSAGE_TTL_MS": "1000", "RATE_LIMIT_RPM": "9", "ALLOWED_ORIGINS": "https://a, https://b",
		"AGORA_ALLOW_UNAUTHENTICATED_REGISTER": "true",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"WSAddr":         cfg.WSAddr == "127.0.0.1:4000",
		"RESTAddr":       cfg.RESTAddr == "127.0.0.1:4001",
		"JWTSecret":      string(cfg.JWTSecret) == "s",
		"JWTExpiry":      cfg.JWTExpiry == time.Minute,
		"MaxPeers":       cfg.MaxPeers == 7,
		"MessageTTL":     cfg.MessageTTL == time.Second,
		"RateLimitRPM":   cfg.RateLimitRPM == 9,
		"AllowedOrigins": len(cfg.AllowedOrigins) == 2 && cfg.AllowedOrigins[1] == "https://b",
		"Unauth":         cfg.AllowUnauthenticatedRegister,
		"SenderRate":     cfg.SenderRate == DefaultSenderRate,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s not applied: %+v", name, cfg)
		}
	}
	env["RELAY_PORT"] = "5000"
	if cfg, _ := ConfigFromEnv(func(k string) string { return env[k] }); cfg.WSAddr != "127.0.0.1:5000" {
		t.Errorf("RELAY_PORT does not win over PORT: %s", cfg.WSAddr)
	}
	for _, bad := range []map[string]string{{"PORT": "x"}, {"MAX_PEERS": "-1"}, {"AGORA_ALLOW_UNAUTHENTICATED_REGISTER": "maybe"}, {"REST_PORT": "70000"}} {
		if _, err := ConfigFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("ConfigFromEnv(%v) succeeded", bad)
		}
	}
}
