package relaymode

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// handle dispatches one text frame.
func (s *wsSession) handle(data []byte) {
	f, err := parseFrame(data)
	if err != nil {
		s.sendError(err)
		return
	}
	switch f.Type {
	case "register":
		s.handleRegister(f)
	case "message":
		s.handleMessage(f)
	case "ping":
		s.send(map[string]string{"type": "pong"})
	case "ack":
		s.handleAck(f)
	default:
		s.sendError(rejection(CodeUnknownType, "Unknown message type: %.64q", f.Type))
	}
}

// parseFrame decodes a client frame, which must be a JSON object. json.Unmarshal checks the
// syntax of the whole frame before it decodes, so a frame that starts like an object is not
// checked a second time with json.Valid.
func parseFrame(data []byte) (*inFrame, *relayError) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, rejection(CodeInvalidJSON, "Invalid message format: the frame is not JSON")
		}
		return nil, rejection(CodeInvalidFrame, "Invalid message format: the frame is not a JSON object")
	}
	var f inFrame
	if err := json.Unmarshal(trimmed, &f); err != nil {
		if _, syntax := err.(*json.SyntaxError); syntax {
			return nil, rejection(CodeInvalidJSON, "Invalid message format: the frame is not JSON")
		}
		return nil, rejection(CodeInvalidFrame, "Invalid message format: %v", err)
	}
	return &f, nil
}

func (s *wsSession) handleRegister(f *inFrame) {
	if s.Key() != "" {
		s.sendError(rejection(CodeAlreadyRegistered, "this connection is already registered"))
		return
	}
	if f.PublicKey == nil || *f.PublicKey == "" {
		s.sendError(rejection(CodeInvalidFrame, "Invalid registration: missing or invalid publicKey"))
		return
	}
	key, err := protocol.ParsePublicKey(*f.PublicKey)
	if err != nil || key.String() != *f.PublicKey {
		s.sendError(rejection(CodeInvalidFrame, "Invalid registration: publicKey must be a lowercase SPKI hex Ed25519 key"))
		return
	}
	if err := s.checkPossession(key, f.Signature); err != nil {
		s.r.metrics.AuthFailure("websocket")
		if ok, skipped := s.r.sampler.allow("auth:websocket", time.Now()); ok {
			s.r.log.Info("WebSocket registration rejected", "session", s.id, "remote", s.remote,
				"key", key.String(), "err", err.message, "similarSkipped", skipped)
		}
		s.sendError(err)
		return
	}
	s.mu.Lock()
	s.key = key.String()
	s.acks = f.Acks
	s.mu.Unlock()
	if err := s.r.register(s, f.Metadata); err != nil {
		s.mu.Lock()
		s.key = ""
		s.mu.Unlock()
		s.sendError(err.(*relayError))
		s.closeAfterQueued()
		return
	}
	s.send(map[string]any{
		"type":      "registered",
		"publicKey": s.key,
		"sessionId": s.id,
		"peers":     s.r.registeredPeers(s.key),
	})
	s.startPresence()
	if s.r.isStoragePeer(s.key) {
		s.r.goTracked(func() { s.r.streamStored(s) })
	}
}

// checkPossession verifies the signature over the session's challenge. Without a signature it
// passes only when AllowUnauthenticatedRegister is set.
func (s *wsSession) checkPossession(key protocol.PublicKey, signature string) *relayError {
	if signature == "" {
		if s.r.cfg.AllowUnauthenticatedRegister {
			return nil
		}
		return rejection(CodeUnauthenticated,
			"register must carry signature: hex Ed25519 signature of %q by publicKey", ChallengeText(s.r.selfKey, s.nonce))
	}
	sig, err := hex.DecodeString(signature)
	if err != nil || !key.Verify([]byte(ChallengeText(s.r.selfKey, s.nonce)), sig) {
		return rejection(CodeUnauthenticated, "the signature does not verify for publicKey over this connection's challenge")
	}
	return nil
}

// registeredPeers lists the connected keys other than key, and storage peers while offline.
func (r *Relay) registeredPeers(key string) []map[string]string {
	var out []map[string]string
	seen := make(map[string]bool)
	for _, p := range r.peerList(key) {
		out = append(out, map[string]string{"publicKey": p.PublicKey})
		seen[p.PublicKey] = true
	}
	for _, k := range r.storagePeerKeys() {
		if k != key && !seen[k] {
			out = append(out, map[string]string{"publicKey": k})
		}
	}
	if out == nil {
		out = []map[string]string{}
	}
	return out
}

func (s *wsSession) handleMessage(f *inFrame) {
	key := s.Key()
	if key == "" {
		s.sendError(rejection(CodeNotRegistered, "Not registered: send registration message first"))
		return
	}
	if f.To == nil || *f.To == "" {
		s.sendError(rejection(CodeInvalidFrame, `Invalid message: missing or invalid "to" field`))
		return
	}
	if len(f.Envelope) == 0 || f.Envelope[0] != '{' {
		s.sendError(rejection(CodeInvalidFrame, `Invalid message: missing or invalid "envelope" field`))
		return
	}
	to := *f.To
	raw := []byte(f.Envelope)
	// Mesh delivery can take a dial; it runs beside the read loop so other frames go on.
	if !s.r.isLocalOrStored(to) && to != s.r.selfKey {
		s.r.goTracked(func() { s.report(s.r.ingest(s.r.ctx, raw, key, to)) })
		return
	}
	s.report(s.r.ingest(context.Background(), raw, key, to))
}

// report sends the verdict on a message frame: an error frame for a rejection, else a
// delivered or stored frame, which clients of the earlier relay ignore.
func (s *wsSession) report(env *protocol.Envelope, out outcome, err error) {
	if err != nil {
		s.sendError(err.(*relayError))
		return
	}
	s.sendEncoded(encodeVerdict(out, env.ID))
}

// encodeVerdict builds a delivered or stored frame without reflection. id is the ID of a
// verified envelope, so it is lowercase hex and needs no escaping.
func encodeVerdict(out outcome, id string) []byte {
	buf := make([]byte, 0, 48+len(id))
	buf = append(buf, `{"type":"`...)
	if out == outcomeForwarded {
		buf = append(buf, outcomeDelivered...)
	} else {
		buf = append(buf, out...)
	}
	buf = append(buf, `","id":"`...)
	buf = append(buf, id...)
	if out == outcomeForwarded {
		buf = append(buf, `","via":"mesh`...)
	}
	return append(buf, `"}`...)
}

func (r *Relay) isLocalOrStored(key string) bool {
	return r.hasSession(key) || r.isStoragePeer(key)
}

func (s *wsSession) handleAck(f *inFrame) {
	key := s.Key()
	if key == "" || f.ID == "" || !s.r.isStoragePeer(key) {
		return
	}
	s.r.deleteStored(key, f.ID)
}
