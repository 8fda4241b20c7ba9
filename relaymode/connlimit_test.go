package relaymode

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/relaymode/client"
)

// dialStatus dials the relay with header and returns the HTTP status of a rejected upgrade
// and its JSON error, or 101 and the connection.
func dialStatus(t *testing.T, r *Relay, header http.Header) (int, string, *websocket.Conn) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(r.WSURL(), header)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
		return http.StatusSwitchingProtocols, "", conn
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if jerr := json.Unmarshal(body, &e); jerr != nil || e.Error == "" {
		t.Fatalf("rejected upgrade: status %d, body %q is not a JSON error", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("rejected upgrade: status %d without Retry-After", resp.StatusCode)
	}
	return resp.StatusCode, e.Error, nil
}

// waitForConnection waits until the relay accepts a connection again; reason names the wait in a failure.
func waitForConnection(t *testing.T, r *Relay, reason string) {
	t.Helper()
	waitFor(t, func() bool {
		status, _, c := dialStatus(t, r, nil)
		if c != nil {
			c.Close()
		}
		return status == http.StatusSwitchingProtocols
	}, reason)
}

func TestConnectionLimitPerIP(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnectionsPerIP = 3
	r := startRelay(t, cfg)
	var conns []*websocket.Conn
	for i := 0; i < 3; i++ {
		status, _, c := dialStatus(t, r, nil)
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("connection %d rejected with %d", i, status)
		}
		conns = append(conns, c)
	}
	status, msg, _ := dialStatus(t, r, nil)
	if status != http.StatusTooManyRequests || msg != "Too many connections from this address" {
		t.Fatalf("fourth connection: %d %q, want 429", status, msg)
	}
	// A forged X-Forwarded-For from an untrusted peer does not count as another address.
	status, _, _ = dialStatus(t, r, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	if status != http.StatusTooManyRequests {
		t.Fatalf("connection with a forged X-Forwarded-For: %d, want 429", status)
	}
	// Closing one frees its slot once the relay has seen the close.
	conns[0].Close()
	waitForConnection(t, r, "a slot after a close")
}

func TestConnectionLimitTrustsProxyAddresses(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnectionsPerIP = 1
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	r := startRelay(t, cfg)
	for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		if status, _, _ := dialStatus(t, r, http.Header{"X-Forwarded-For": {ip}}); status != http.StatusSwitchingProtocols {
			t.Fatalf("first connection of %s through the proxy: %d", ip, status)
		}
	}
	if status, _, _ := dialStatus(t, r, http.Header{"X-Forwarded-For": {"203.0.113.1"}}); status != http.StatusTooManyRequests {
		t.Fatalf("second connection of 203.0.113.1: %d, want 429", status)
	}
}

func TestConnectionLimitTotal(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnections = 2
	cfg.MaxConnectionsPerIP = 0
	r := startRelay(t, cfg)
	alice, _ := dialClient(t, r)
	_, bobKey := dialClient(t, r)
	status, msg, _ := dialStatus(t, r, nil)
	if status != http.StatusServiceUnavailable || msg != "Too many connections; try again later" {
		t.Fatalf("third connection: %d %q, want 503", status, msg)
	}
	// The sessions already open keep working.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", "hi", nil); err != nil {
		t.Fatalf("send at the connection limit: %v", err)
	}
}

func TestSilentUnregisteredConnectionFreesItsSlot(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnectionsPerIP = 1
	cfg.HeartbeatInterval = 100 * time.Millisecond
	r := startRelay(t, cfg)
	// This connection never registers and never reads, so it sends no pong.
	if status, _, _ := dialStatus(t, r, nil); status != http.StatusSwitchingProtocols {
		t.Fatalf("first connection: %d", status)
	}
	if status, _, _ := dialStatus(t, r, nil); status != http.StatusTooManyRequests {
		t.Fatalf("second connection while the first is open: %d, want 429", status)
	}
	waitForConnection(t, r, "the relay to close a silent connection")
}

func TestSessionLimitPerKey(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSessionsPerKey = 2
	r := startRelay(t, cfg)
	first, key := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	second, err := client.Dial(ctx, r.WSURL(), key, nil)
	if err != nil {
		t.Fatalf("second session: %v", err)
	}
	defer second.Close()

	_, err = client.Dial(ctx, r.WSURL(), key, nil)
	var ce *client.Error
	if !errorAs(err, &ce) || ce.Code != CodeSessionLimit {
		t.Fatalf("third session: err = %v, want code %s", err, CodeSessionLimit)
	}

	// The REST door counts the same sessions.
	rc := &restClient{t: t, base: r.RESTURL()}
	status, body, _ := rc.do("POST", "/v1/register", map[string]any{"publicKey": key.PublicKey().String(),
		"privateKey": key.PrivateKeyHex()})
	if status != http.StatusServiceUnavailable || body["code"] != CodeSessionLimit {
		t.Fatalf("REST register of a key at its session limit: %d %v, want 503 %s", status, body, CodeSessionLimit)
	}

	// Other keys are not affected, and a closed session frees its place.
	dialClient(t, r)
	first.Close()
	waitFor(t, func() bool {
		c, err := client.Dial(ctx, r.WSURL(), key, nil)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, "a session slot after a close")
}

func TestUnregisteredConnectionClosedAfterOneInterval(t *testing.T) {
	cfg := testConfig(t)
	cfg.HeartbeatInterval = 200 * time.Millisecond
	r := startRelay(t, cfg)
	c := dialRaw(t, r)
	c.next("challenge")
	// Reading makes the client send pongs, so only the missing registration ends the connection.
	if e := c.next("error"); e["code"] != CodeNotRegistered {
		t.Fatalf("unregistered connection: %v, want %s", e, CodeNotRegistered)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.conn.ReadMessage(); err == nil {
		t.Fatal("the relay kept an unregistered connection open")
	}
	// A registered session that keeps talking outlives the interval.
	reg := registerRaw(t, r, newKey(t))
	for range 6 {
		time.Sleep(cfg.HeartbeatInterval / 2)
		reg.send(map[string]string{"type": "ping"})
		reg.next("pong")
	}
}
