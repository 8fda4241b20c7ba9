package relaymode

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

func decodeBody(w http.ResponseWriter, req *http.Request, into any) bool {
	if err := json.NewDecoder(req.Body).Decode(into); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (d *restDoor) handleChallenge(w http.ResponseWriter, req *http.Request) {
	nonce, ok := d.newChallenge(time.Now())
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "too many outstanding challenges; try again later")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"nonce":          nonce,
		"relayPublicKey": d.r.selfKey,
		"challenge":      ChallengeText(d.r.selfKey, nonce),
		"expiresAt":      time.Now().Add(challengeTTL).UnixMilli(),
	})
}

type registerRequest struct {
	PublicKey  string         `json:"publicKey"`
	PrivateKey string         `json:"privateKey"`
	Nonce      string         `json:"nonce"`
	Signature  string         `json:"signature"`
	Metadata   map[string]any `json:"metadata"`
}

func (d *restDoor) handleRegister(w http.ResponseWriter, req *http.Request) {
	var body registerRequest
	if !decodeBody(w, req, &body) {
		return
	}
	if body.PublicKey == "" {
		writeError(w, http.StatusBadRequest, "publicKey is required")
		return
	}
	key, err := protocol.ParsePublicKey(body.PublicKey)
	if err != nil || key.String() != body.PublicKey {
		writeError(w, http.StatusBadRequest, "publicKey must be a lowercase SPKI hex Ed25519 key")
		return
	}
	if err := checkMetadata(body.Metadata); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	signer, status, problem := d.authenticate(&body, key)
	if problem != "" {
		d.r.metrics.AuthFailure("rest")
		if ok, skipped := d.r.sampler.allow("auth:rest", time.Now()); ok {
			d.r.log.Info("REST registration rejected", "key", body.PublicKey, "remote", req.RemoteAddr,
				"problem", problem, "similarSkipped", skipped)
		}
		writeError(w, status, problem)
		return
	}
	now := time.Now()
	token, jti, exp, err := d.tokens.issue(body.PublicKey, now)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not issue a token")
		return
	}
	s := &restSession{key: body.PublicKey, id: newSessionID(), jti: jti, expiresAt: exp, registeredAt: now,
		ttl: d.r.cfg.MessageTTL, maxBuffered: d.r.cfg.RESTBuffer, retention: d.r.cfg.ReplayRetention, signer: signer}
	d.mu.Lock()
	old := d.sessions[body.PublicKey]
	d.sessions[body.PublicKey] = s
	d.mu.Unlock()
	if old != nil {
		d.r.unregister(old)
		old.close("replaced by a new registration")
	}
	if err := d.r.register(s, body.Metadata); err != nil {
		d.mu.Lock()
		delete(d.sessions, body.PublicKey)
		d.mu.Unlock()
		re := err.(*relayError)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": re.message, "code": re.code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expiresAt": exp.UnixMilli(), "peers": d.r.peerList(body.PublicKey)})
}

// authenticate checks a registration: a signature over an issued challenge, or, when allowed,
// the private key of the earlier relay's API. It returns the signer for private-key sessions.
func (d *restDoor) authenticate(body *registerRequest, key protocol.PublicKey) (*protocol.KeyPair, int, string) {
	if body.Signature != "" || body.Nonce != "" {
		if body.Signature == "" || body.Nonce == "" {
			return nil, http.StatusBadRequest, "nonce and signature go together; request a nonce from POST /v1/challenge and sign it"
		}
		if !d.useNonce(body.Nonce, time.Now()) {
			return nil, http.StatusUnauthorized, "unknown or expired nonce; request a new one from POST /v1/challenge"
		}
		sig, err := hex.DecodeString(body.Signature)
		if err != nil || !key.Verify([]byte(ChallengeText(d.r.selfKey, body.Nonce)), sig) {
			return nil, http.StatusUnauthorized, "the signature does not verify for publicKey over the challenge"
		}
		return nil, 0, ""
	}
	if body.PrivateKey == "" {
		return nil, http.StatusBadRequest, "signature and nonce (or privateKey) are required"
	}
	if !d.r.cfg.AllowPrivateKeyRegister {
		return nil, http.StatusForbidden, "this relay does not accept private keys; register with POST /v1/challenge and a signature"
	}
	kp, err := protocol.ParsePrivateKey(body.PrivateKey)
	if err != nil || kp.PublicKey() != key {
		return nil, http.StatusBadRequest, "Key pair verification failed: privateKey does not match publicKey"
	}
	return kp, 0, ""
}

type sendRequest struct {
	To        string          `json:"to"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	InReplyTo string          `json:"inReplyTo"`
	Envelope  json.RawMessage `json:"envelope"`
}

func (d *restDoor) handleSend(w http.ResponseWriter, req *http.Request, s *restSession) {
	var body sendRequest
	if !decodeBody(w, req, &body) {
		return
	}
	if body.To == "" {
		writeError(w, http.StatusBadRequest, "to is required")
		return
	}
	raw, status, problem := d.envelopeToSend(&body, s)
	if problem != "" {
		writeError(w, status, problem)
		return
	}
	env, out, err := d.r.ingest(req.Context(), raw, s.key, body.To)
	if err != nil {
		d.writeRejection(w, err.(*relayError), body.To)
		return
	}
	resp := map[string]any{"ok": true, "envelopeId": env.ID}
	if out == outcomeStored {
		resp["stored"] = true
	}
	writeJSON(w, http.StatusOK, resp)
}

// envelopeToSend returns the envelope text of a send request: the pre-signed envelope, or one
// the relay signs with the session's private key.
func (d *restDoor) envelopeToSend(body *sendRequest, s *restSession) ([]byte, int, string) {
	if len(body.Envelope) > 0 {
		return body.Envelope, 0, ""
	}
	if body.Type == "" {
		return nil, http.StatusBadRequest, "type is required"
	}
	if len(body.Payload) == 0 {
		return nil, http.StatusBadRequest, "payload is required"
	}
	s.mu.Lock()
	signer := s.signer
	s.mu.Unlock()
	if signer == nil {
		return nil, http.StatusBadRequest, "this session holds no private key: send a signed envelope in the envelope field"
	}
	env, err := protocol.CreateEnvelope(signer, body.Type, []string{body.To}, body.Payload,
		&protocol.CreateOptions{InReplyTo: body.InReplyTo})
	if err != nil {
		return nil, http.StatusBadRequest, "invalid payload: " + err.Error()
	}
	raw, _ := env.MarshalJSON()
	return raw, 0, ""
}

// writeRejection maps a rejection to the earlier relay's status codes where it has one.
func (d *restDoor) writeRejection(w http.ResponseWriter, e *relayError, to string) {
	status := http.StatusBadRequest
	switch e.code {
	case CodeUnknownRecipient:
		// The earlier relay's status and text, with the code that the other refusals carry.
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Recipient not connected: " + to, "code": e.code})
		return
	case CodeRateLimited:
		status = http.StatusTooManyRequests
	case CodeDuplicate:
		status = http.StatusConflict
	case CodeSenderMismatch:
		status = http.StatusForbidden
	case CodeQuotaExceeded:
		status = http.StatusInsufficientStorage
	case CodeDeliveryFailed:
		status = http.StatusBadGateway
	case CodeTooLarge:
		status = http.StatusRequestEntityTooLarge
	}
	body := map[string]string{"error": e.message, "code": e.code}
	if e.reason != "" {
		body["reason"] = string(e.reason)
	}
	writeJSON(w, status, body)
}

func (d *restDoor) handlePeers(w http.ResponseWriter, _ *http.Request, s *restSession) {
	writeJSON(w, http.StatusOK, map[string]any{"peers": d.r.peerList(s.key)})
}

func (d *restDoor) handleMessages(w http.ResponseWriter, req *http.Request, s *restSession) {
	q := req.URL.Query()
	limit, ok := parseLimit(w, q.Get("limit"), 50, 100)
	if !ok {
		return
	}
	var since *float64
	if raw := q.Get("since"); raw != "" {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Invalid `since` value — must be milliseconds since the epoch")
			return
		}
		since = &v
	}
	stored, storedIDs := d.storedMessages(s.key, limit)
	msgs, more := stored, len(stored) == limit
	if rest := limit - len(stored); rest > 0 {
		var buffered []bufferedMessage
		buffered, more = s.messages(since, rest, time.Now())
		msgs = append(msgs, buffered...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": nonNil(msgs), "hasMore": more})
	if since == nil && len(storedIDs) > 0 {
		d.r.deleteStored(s.key, storedIDs...)
	}
}

// storedMessages returns up to limit envelopes stored for a storage peer, oldest first, with
// their IDs. A read without since deletes them once the response is written.
func (d *restDoor) storedMessages(key string, limit int) ([]bufferedMessage, []string) {
	if !d.r.isStoragePeer(key) {
		return nil, nil
	}
	list, err := d.r.cfg.Store.Pending(key, limit)
	if err != nil {
		d.r.log.Error("reading stored envelopes failed", "key", key, "err", err)
		return nil, nil
	}
	msgs := make([]bufferedMessage, 0, len(list))
	ids := make([]string, 0, len(list))
	for _, st := range list {
		msgs = append(msgs, newBufferedMessage(st.Envelope, st.StoredAt))
		ids = append(ids, st.Envelope.ID)
	}
	return msgs, ids
}

func (d *restDoor) handleReplay(w http.ResponseWriter, req *http.Request, s *restSession) {
	q := req.URL.Query()
	raw := q.Get("since")
	if raw == "" {
		writeError(w, http.StatusBadRequest, "`since` query parameter is required (ISO8601 timestamp)")
		return
	}
	since, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid `since` value — must be a valid ISO8601 timestamp")
		return
	}
	limit, ok := parseLimit(w, q.Get("limit"), 100, 500)
	if !ok {
		return
	}
	now := time.Now()
	if since.Before(now.Add(-d.r.cfg.ReplayRetention)) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "retention_exceeded",
			"message": fmt.Sprintf("`since` is older than the %s retention window", d.r.cfg.ReplayRetention)})
		return
	}
	if d.r.isStoragePeer(s.key) {
		d.replayStored(w, s.key, since, limit)
		return
	}
	msgs, more := s.replaySince(since, limit, now)
	writeJSON(w, http.StatusOK, map[string]any{"messages": nonNil(msgs), "hasMore": more})
}

// replayStored serves a storage peer's replay request from the store.
func (d *restDoor) replayStored(w http.ResponseWriter, key string, since time.Time, limit int) {
	list, err := d.r.cfg.Store.Since(key, since, limit+1)
	if err != nil {
		d.r.log.Error("reading stored envelopes failed", "key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "the message store is unavailable")
		return
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	msgs := make([]bufferedMessage, 0, len(list))
	for _, st := range list {
		msgs = append(msgs, newBufferedMessage(st.Envelope, st.StoredAt))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "hasMore": more})
}

func parseLimit(w http.ResponseWriter, raw string, def, maxLimit int) (int, bool) {
	if raw == "" {
		return def, true
	}
	v, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || v < 1 {
		writeError(w, http.StatusBadRequest, "Invalid `limit` value — must be a positive integer")
		return 0, false
	}
	return min(v, maxLimit), true
}

func nonNil(msgs []bufferedMessage) []bufferedMessage {
	if msgs == nil {
		return []bufferedMessage{}
	}
	return msgs
}

func (d *restDoor) handleDisconnect(w http.ResponseWriter, _ *http.Request, s *restSession) {
	d.tokens.revoke(s.jti, s.expiresAt)
	d.mu.Lock()
	if d.sessions[s.key] == s {
		delete(d.sessions, s.key)
	}
	d.mu.Unlock()
	d.r.unregister(s)
	s.close("disconnected")
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
