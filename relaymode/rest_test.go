package relaymode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/agora-p2p/agora/protocol"
)

// restClient calls the REST door of one relay.
type restClient struct {
	t     *testing.T
	base  string
	token string
	hdr   http.Header
}

func (c *restClient) do(method, path string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		c.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, data)
	}
	return resp.StatusCode, out, resp.Header
}

// registerREST registers k with a signed challenge and returns a client holding the token.
func registerREST(t *testing.T, r *Relay, k *protocol.KeyPair) *restClient {
	t.Helper()
	c := &restClient{t: t, base: r.RESTURL()}
	status, ch, _ := c.do("POST", "/v1/challenge", nil)
	if status != 200 {
		t.Fatalf("challenge: %d %v", status, ch)
	}
	sig := k.Sign([]byte(ch["challenge"].(string)))
	status, reg, _ := c.do("POST", "/v1/register", map[string]any{
		"publicKey": k.PublicKey().String(), "nonce": ch["nonce"], "signature": hex.EncodeToString(sig)})
	if status != 200 {
		t.Fatalf("register: %d %v", status, reg)
	}
	c.token = reg["token"].(string)
	return c
}

func TestRESTKeylessExchangeWithWebSocket(t *testing.T) {
	r := startRelay(t, testConfig(t))
	restKey := newKey(t)
	rc := registerREST(t, r, restKey)
	ws, wsKey := dialClient(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// WebSocket to REST: the earlier relay cannot do this.
	id, kind, err := ws.Send(ctx, restKey.PublicKey().String(), "request", map[string]string{"text": "to rest"}, nil)
	if err != nil || kind != "delivered" {
		t.Fatalf("WebSocket to REST: %v %q", err, kind)
	}
	status, body, _ := rc.do("GET", "/v1/messages", nil)
	msgs := body["messages"].([]any)
	if status != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["id"] != id {
		t.Fatalf("messages: %d %v", status, body)
	}
	if _, body, _ = rc.do("GET", "/v1/messages", nil); len(body["messages"].([]any)) != 0 {
		t.Fatalf("a read without since did not clear the buffer: %v", body)
	}

	// REST to WebSocket with a pre-signed envelope.
	env := mustEnvelope(t, restKey, wsKey.PublicKey().String(), map[string]string{"text": "to ws"})
	status, body, _ = rc.do("POST", "/v1/send", map[string]any{"to": wsKey.PublicKey().String(), "envelope": env})
	if status != 200 || body["envelopeId"] != env.ID {
		t.Fatalf("send: %d %v", status, body)
	}
	select {
	case m := <-ws.Messages():
		if m.Envelope.ID != env.ID {
			t.Fatalf("WebSocket got %s", m.Envelope.ID)
		}
	case <-ctx.Done():
		t.Fatal("WebSocket client received nothing")
	}
}

func TestRESTPrivateKeyRegistration(t *testing.T) {
	cfg := testConfig(t)
	r := startRelay(t, cfg)
	k := newKey(t)
	c := &restClient{t: t, base: r.RESTURL()}
	status, body, _ := c.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(), "privateKey": k.PrivateKeyHex()})
	if status != 200 {
		t.Fatalf("register: %d %v", status, body)
	}
	c.token = body["token"].(string)
	other := registerREST(t, r, newKey(t))
	otherKey := mustKeyOf(t, other)
	status, body, _ = c.do("POST", "/v1/send", map[string]any{"to": otherKey, "type": "request", "payload": map[string]int{"n": 1}})
	if status != 200 || body["ok"] != true {
		t.Fatalf("send: %d %v", status, body)
	}
	_, got, _ := other.do("GET", "/v1/messages", nil)
	if msgs := got["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["from"] != k.PublicKey().String() {
		t.Fatalf("messages: %v", got)
	}
	status, body, _ = c.do("POST", "/v1/send", map[string]any{"to": newKey(t).PublicKey().String(), "type": "request", "payload": 1})
	if body["code"] != CodeUnknownRecipient {
		t.Errorf("404 body %v lacks code %s", body, CodeUnknownRecipient)
	}
	if status != 404 || !strings.HasPrefix(body["error"].(string), "Recipient not connected: ") {
		t.Fatalf("send to an unknown key: %d %v", status, body)
	}
}

// mustKeyOf returns the public key a REST client registered, from its token's subject.
func mustKeyOf(t *testing.T, c *restClient) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(c.token, &jwt.RegisteredClaims{})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := tok.Claims.GetSubject()
	return sub
}

func TestRESTPrivateKeyRegistrationOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowPrivateKeyRegister = false
	r := startRelay(t, cfg)
	k := newKey(t)
	c := &restClient{t: t, base: r.RESTURL()}
	status, body, _ := c.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(), "privateKey": k.PrivateKeyHex()})
	if status != http.StatusForbidden {
		t.Fatalf("register with a private key: %d %v", status, body)
	}
}

func TestRESTRegisterErrors(t *testing.T) {
	r := startRelay(t, testConfig(t))
	k, other := newKey(t), newKey(t)
	c := &restClient{t: t, base: r.RESTURL()}
	_, ch, _ := c.do("POST", "/v1/challenge", nil)
	nonce := ch["nonce"].(string)
	cases := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"no key", map[string]any{}, 400},
		{"bad key", map[string]any{"publicKey": "abc"}, 400},
		{"no proof", map[string]any{"publicKey": k.PublicKey().String()}, 400},
		{"unknown nonce", map[string]any{"publicKey": k.PublicKey().String(), "nonce": "n", "signature": "00"}, 401},
		{"signature without nonce", map[string]any{"publicKey": k.PublicKey().String(), "signature": "00"}, 400},
		{"nonce without signature", map[string]any{"publicKey": k.PublicKey().String(), "nonce": "n"}, 400},
		{"wrong signer", map[string]any{"publicKey": k.PublicKey().String(), "nonce": nonce,
			"signature": hex.EncodeToString(other.Sign([]byte(ChallengeText(r.PublicKey(), nonce))))}, 401},
		{"nonce reused", map[string]any{"publicKey": k.PublicKey().String(), "nonce": nonce,
			"signature": hex.EncodeToString(k.Sign([]byte(ChallengeText(r.PublicKey(), nonce))))}, 401},
		{"mismatched private key", map[string]any{"publicKey": k.PublicKey().String(), "privateKey": other.PrivateKeyHex()}, 400},
	}
	for _, tc := range cases {
		if status, body, _ := c.do("POST", "/v1/register", tc.body); status != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.status)
		}
	}
}

func TestRESTTokens(t *testing.T) {
	r := startRelay(t, testConfig(t))
	k := newKey(t)
	c := registerREST(t, r, k)
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"sub": k.PublicKey().String(), "jti": "x", "exp": time.Now().Add(time.Hour).Unix()}
	parts := strings.Split(c.token, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "A." + parts[2]
	cases := []struct {
		name, header, want string
	}{
		{"missing", "", authMissing},
		{"not bearer", "Basic abc", authMissing},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), authInvalid},
		{"HS512", "Bearer " + sign(jwt.SigningMethodHS512, testSecret, valid), authInvalid},
		{"wrong secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-of-enough-length-000"), valid), authInvalid},
		{"tampered", "Bearer " + tampered, authInvalid},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "k", "jti": "y", "exp": time.Now().Add(-time.Minute).Unix()}), authExpired},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", r.RESTURL()+"/v1/peers", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body["error"] != tc.want {
			t.Errorf("%s: %d %v, want 401 %q", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	if status, _, _ := c.do("GET", "/v1/peers", nil); status != 200 {
		t.Fatalf("valid token: %d", status)
	}
	// The scheme name is case-insensitive.
	req, _ := http.NewRequest("GET", r.RESTURL()+"/v1/peers", nil)
	req.Header.Set("Authorization", "bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("lowercase bearer scheme: %d, want 200", resp.StatusCode)
	}
	if status, _, _ := c.do("DELETE", "/v1/disconnect", nil); status != 200 {
		t.Fatalf("disconnect: %d", status)
	}
	if status, body, _ := c.do("GET", "/v1/peers", nil); status != 401 || body["error"] != authRevoked {
		t.Fatalf("revoked token: %d %v", status, body)
	}
}

func TestRESTRateLimitIgnoresSpoofedForwardedFor(t *testing.T) {
	cfg := testConfig(t)
	cfg.RateLimitRPM = 5
	r := startRelay(t, cfg)
	c := &restClient{t: t, base: r.RESTURL(), hdr: http.Header{}}
	for i := 0; i < 5; i++ {
		c.hdr.Set("X-Forwarded-For", "10.0.0."+string(rune('1'+i)))
		status, _, hdr := c.do("POST", "/v1/challenge", nil)
		if status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
		if hdr.Get("RateLimit-Limit") != "5" {
			t.Fatalf("RateLimit-Limit = %q", hdr.Get("RateLimit-Limit"))
		}
		// At 5 per minute, each token used takes 12 seconds to come back.
		if reset, _ := strconv.Atoi(hdr.Get("RateLimit-Reset")); reset < 12*(i+1)-1 || reset > 12*(i+1) {
			t.Fatalf("request %d: RateLimit-Reset = %q, want about %d", i, hdr.Get("RateLimit-Reset"), 12*(i+1))
		}
	}
	c.hdr.Set("X-Forwarded-For", "10.9.9.9")
	status, body, hdr := c.do("POST", "/v1/challenge", nil)
	if status != 429 || body["error"] != "Too many requests — try again later" {
		t.Fatalf("sixth request: %d %v", status, body)
	}
	if hdr.Get("RateLimit-Remaining") != "0" || hdr.Get("Retry-After") == "" {
		t.Fatalf("headers of a 429: %v", hdr)
	}
}

func TestRESTMisc(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxBytes = 2048
	r := startRelay(t, cfg)
	c := registerREST(t, r, newKey(t))
	if status, body, _ := c.do("GET", "/nope", nil); status != 404 || body["error"] == nil {
		t.Fatalf("unknown path: %d %v", status, body)
	}
	big := map[string]any{"to": "x", "envelope": map[string]string{"pad": strings.Repeat("x", 100<<10)}}
	if status, body, _ := c.do("POST", "/v1/send", big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %v", status, body)
	}
	if status, body, _ := c.do("GET", "/v1/messages?limit=0", nil); status != 400 {
		t.Fatalf("limit=0: %d %v", status, body)
	}
	if status, body, _ := c.do("GET", "/v1/messages/replay", nil); status != 400 {
		t.Fatalf("replay without since: %d %v", status, body)
	}
	old := time.Now().Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	if status, body, _ := c.do("GET", "/v1/messages/replay?since="+old, nil); status != 400 || body["error"] != "retention_exceeded" {
		t.Fatalf("replay past retention: %d %v", status, body)
	}
	recent := time.Now().Add(-time.Hour).Format(time.RFC3339)
	if status, body, _ := c.do("GET", "/v1/messages/replay?since="+recent, nil); status != 200 || body["hasMore"] != false {
		t.Fatalf("replay: %d %v", status, body)
	}
	req, _ := http.NewRequest("OPTIONS", r.RESTURL()+"/v1/send", nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestRESTSecretTooShort(t *testing.T) {
	cfg := testConfig(t)
	cfg.JWTSecret = []byte("short")
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("New with a short secret: %v", err)
	}
}
