package relaymode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestWebSocketExchange(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, _ := dialClient(t, r)
	bob, bobKey := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	id, kind, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", map[string]string{"text": "hi"}, nil)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if kind != "delivered" {
		t.Fatalf("verdict = %q, want delivered", kind)
	}
	select {
	case m := <-bob.Messages():
		if m.Envelope.ID != id {
			t.Fatalf("bob got %s, want %s", m.Envelope.ID, id)
		}
		if string(m.Envelope.Payload) != `{"text":"hi"}` {
			t.Fatalf("payload = %s", m.Envelope.Payload)
		}
	case <-ctx.Done():
		t.Fatal("bob received nothing")
	}
}

func TestWebSocketSeveralSessionsPerKey(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, _ := dialClient(t, r)
	bobKey := newKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var bobs []*client.Client
	for i := 0; i < 2; i++ {
		c, err := client.Dial(ctx, r.WSURL(), bobKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		bobs = append(bobs, c)
	}
	id, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bobs {
		select {
		case m := <-b.Messages():
			if m.Envelope.ID != id {
				t.Fatalf("session %d got %s", i, m.Envelope.ID)
			}
		case <-ctx.Done():
			t.Fatalf("session %d received nothing", i)
		}
	}
}

func TestRegisterRequiresProofOfPossession(t *testing.T) {
	r := startRelay(t, testConfig(t))
	victim := newKey(t)
	attacker := newKey(t)
	c := dialRaw(t, r)
	ch := c.next("challenge")
	nonce := ch["nonce"].(string)
	if ch["relayPublicKey"] != r.PublicKey() {
		t.Fatalf("challenge names relay %v, want %s", ch["relayPublicKey"], r.PublicKey())
	}

	c.send(map[string]any{"type": "register", "publicKey": victim.PublicKey().String()})
	if e := c.next("error"); e["code"] != CodeUnauthenticated {
		t.Fatalf("register without signature: %v", e)
	}
	forged := attacker.Sign([]byte(ChallengeText(r.PublicKey(), nonce)))
	c.send(map[string]any{"type": "register", "publicKey": victim.PublicKey().String(), "signature": hex.EncodeToString(forged)})
	if e := c.next("error"); e["code"] != CodeUnauthenticated {
		t.Fatalf("register with another key's signature: %v", e)
	}
	otherNonce := victim.Sign([]byte(ChallengeText(r.PublicKey(), "other-nonce")))
	c.send(map[string]any{"type": "register", "publicKey": victim.PublicKey().String(), "signature": hex.EncodeToString(otherNonce)})
	if e := c.next("error"); e["code"] != CodeUnauthenticated {
		t.Fatalf("register with a signature over another nonce: %v", e)
	}
	good := victim.Sign([]byte(ChallengeText(r.PublicKey(), nonce)))
	c.send(map[string]any{"type": "register", "publicKey": victim.PublicKey().String(), "signature": hex.EncodeToString(good)})
	if f := c.next("registered"); f["publicKey"] != victim.PublicKey().String() {
		t.Fatalf("registered = %v", f)
	}
}

func TestRegisterUnauthenticatedWhenAllowed(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowUnauthenticatedRegister = true
	r := startRelay(t, cfg)
	c := dialRaw(t, r)
	c.next("challenge")
	k := newKey(t)
	c.send(map[string]any{"type": "register", "publicKey": k.PublicKey().String()})
	if f := c.next("registered"); f["sessionId"] == "" {
		t.Fatalf("registered = %v", f)
	}
}

// registerRaw registers key on a raw connection.
func registerRaw(t *testing.T, r *Relay, k *protocol.KeyPair) *rawConn {
	t.Helper()
	return registerRawWith(t, r, k, nil)
}

// registerRawWith registers k on a bare connection with extra fields in the register frame.
func registerRawWith(t *testing.T, r *Relay, k *protocol.KeyPair, extra map[string]any) *rawConn {
	t.Helper()
	c := dialRaw(t, r)
	nonce := c.next("challenge")["nonce"].(string)
	sig := k.Sign([]byte(ChallengeText(r.PublicKey(), nonce)))
	frame := map[string]any{"type": "register", "publicKey": k.PublicKey().String(), "signature": hex.EncodeToString(sig)}
	for name, v := range extra {
		frame[name] = v
	}
	c.send(frame)
	c.next("registered")
	return c
}

func TestHostileFramesKeepSession(t *testing.T) {
	r := startRelay(t, testConfig(t))
	k := newKey(t)
	c := dialRaw(t, r)
	c.next("challenge")
	c.send(map[string]any{"type": "message", "to": "x", "envelope": map[string]any{}})
	if e := c.next("error"); e["code"] != CodeNotRegistered {
		t.Fatalf("message before register: %v", e)
	}
	c.send(map[string]any{"type": "ack", "id": "x"})
	if e := c.next("error"); e["code"] != CodeNotRegistered {
		t.Fatalf("ack before register: %v", e)
	}
	c = registerRaw(t, r, k)
	cases := []struct {
		frame string
		code  string
	}{
		{"not json", CodeInvalidJSON},
		{`[1,2]`, CodeInvalidFrame},
		{`"text"`, CodeInvalidFrame},
		{`{"type":"subscribe"}`, CodeUnknownType},
		{`{"foo":1}`, CodeInvalidFrame},
		{`{"type":"ack"}`, CodeInvalidFrame},
		{`{"type":"message","envelope":{}}`, CodeInvalidFrame},
		{`{"type":"message","to":"abc","envelope":"x"}`, CodeInvalidFrame},
		{`{"type":"message","to":"abc","envelope":{"id":1}}`, CodeInvalid},
		{`{"type":"register","publicKey":"x"}`, CodeAlreadyRegistered},
		{`{"type":5}`, CodeInvalidFrame},
	}
	for _, tc := range cases {
		c.sendText(tc.frame)
		if e := c.next("error"); e["code"] != tc.code {
			t.Errorf("frame %s: error %v, want code %s", tc.frame, e, tc.code)
		}
	}
	c.send(map[string]string{"type": "ping"})
	c.next("pong")
}

func TestEnvelopeRefusals(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, bob, carol := newKey(t), newKey(t), newKey(t)
	a := registerRaw(t, r, alice)
	registerRaw(t, r, bob)
	bk := bob.PublicKey().String()

	valid := mustEnvelope(t, alice, bk, "x")
	a.send(map[string]any{"type": "message", "to": bk, "envelope": valid})
	if f := a.next("delivered"); f["id"] != valid.ID {
		t.Fatalf("delivered = %v", f)
	}
	stale, _ := protocol.CreateEnvelope(alice, "request", []string{bk}, "old",
		&protocol.CreateOptions{Timestamp: time.Now().Add(-time.Hour)})
	modified := *mustEnvelope(t, alice, bk, "y")
	modified.Payload = json.RawMessage(`"z"`)
	forged := mustEnvelope(t, carol, bk, "x")
	toCarol := mustEnvelope(t, alice, carol.PublicKey().String(), "x")
	cases := []struct {
		name   string
		to     string
		env    any
		code   string
		reason protocol.Reason
	}{
		{"duplicate", bk, valid, CodeDuplicate, protocol.ReasonDuplicate},
		{"stale", bk, stale, CodeStale, protocol.ReasonStale},
		{"modified", bk, &modified, CodeInvalid, protocol.ReasonIDMismatch},
		{"sender mismatch", bk, forged, CodeSenderMismatch, ""},
		{"recipient mismatch", bk, toCarol, CodeRecipientMismatch, ""},
		{"unknown recipient", carol.PublicKey().String(), toCarol, CodeUnknownRecipient, ""},
	}
	for _, tc := range cases {
		a.send(map[string]any{"type": "message", "to": tc.to, "envelope": tc.env})
		e := a.next("error")
		if e["code"] != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, e, tc.code)
		}
		if tc.reason != "" && e["reason"] != string(tc.reason) {
			t.Errorf("%s: reason %v, want %s", tc.name, e["reason"], tc.reason)
		}
	}
}

func TestSenderRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.SenderRate = 3
	r := startRelay(t, cfg)
	alice, bob := newKey(t), newKey(t)
	a := registerRaw(t, r, alice)
	registerRaw(t, r, bob)
	for i := 0; i < 3; i++ {
		a.send(map[string]any{"type": "message", "to": bob.PublicKey().String(), "envelope": mustEnvelope(t, alice, bob.PublicKey().String(), i)})
		a.next("delivered")
	}
	a.send(map[string]any{"type": "message", "to": bob.PublicKey().String(), "envelope": mustEnvelope(t, alice, bob.PublicKey().String(), 3)})
	if e := a.next("error"); e["code"] != CodeRateLimited {
		t.Fatalf("fourth envelope: %v, want rate_limited", e)
	}
}

func TestPresenceEvents(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice := registerRaw(t, r, newKey(t))
	bobKey := newKey(t)
	bob := registerRaw(t, r, bobKey)
	if f := alice.nextAny(); f["type"] != "peer_online" || f["publicKey"] != bobKey.PublicKey().String() {
		t.Fatalf("alice got %v, want peer_online of bob", f)
	}
	// A second session of bob is not news; its close is not either.
	second := registerRaw(t, r, bobKey)
	second.conn.Close()
	bob.conn.Close()
	if f := alice.nextAny(); f["type"] != "peer_offline" || f["publicKey"] != bobKey.PublicKey().String() {
		t.Fatalf("alice got %v, want peer_offline of bob", f)
	}
}

func TestPeerListRequest(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, aliceKey := dialClient(t, r)
	dialClient(t, r)
	dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env, _ := protocol.CreateEnvelope(aliceKey, "peer_list_request", []string{r.PublicKey()},
		map[string]any{"filters": map[string]any{"limit": 1}}, nil)
	if _, err := alice.SendEnvelope(ctx, r.PublicKey(), env); err != nil {
		t.Fatalf("SendEnvelope: %v", err)
	}
	select {
	case m := <-alice.Messages():
		if m.Envelope.Type != "peer_list_response" || m.Envelope.InReplyTo != env.ID || m.From != r.PublicKey() {
			t.Fatalf("response = %+v", m.Envelope)
		}
		var p struct {
			Peers      []map[string]any `json:"peers"`
			TotalPeers int              `json:"totalPeers"`
		}
		_ = json.Unmarshal(m.Envelope.Payload, &p)
		if len(p.Peers) != 1 || p.TotalPeers != 2 {
			t.Fatalf("payload = %s, want 1 of 2 peers", m.Envelope.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no peer_list_response")
	}
}

func TestMaxPeers(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPeers = 2
	r := startRelay(t, cfg)
	dialClient(t, r)
	dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, r.WSURL(), newKey(t), nil)
	var ce *client.Error
	if err == nil || !errorAs(err, &ce) || ce.Code != CodeCapacity {
		t.Fatalf("third key: err = %v, want code %s", err, CodeCapacity)
	}
}

func TestOversizedFrameClosesOnlyThatSession(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxBytes = 4096
	r := startRelay(t, cfg)
	alice, _ := dialClient(t, r)
	bob, bobKey := dialClient(t, r)
	big := registerRaw(t, r, newKey(t))
	// The relay closes the connection with code 1009 as soon as the frame passes the limit, so
	// the rest of the write may fail with a reset.
	_ = big.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 80<<10)+`"}`))
	_ = big.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := big.conn.ReadMessage()
	if err == nil {
		t.Fatal("the relay kept the connection of an oversized frame open")
	}
	var ce *websocket.CloseError
	if errorAs(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: close code %d, want 1009", ce.Code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", "still here", nil); err != nil {
		t.Fatalf("other sessions after the oversized frame: %v", err)
	}
	<-bob.Messages()
}
