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
		// The signature check's deep calls would grow the read loop's stack, which an idle
		// session then keeps; a short-lived goroutine takes them instead.
		done := make(chan struct{})
		if s.r.goTracked(func() {
			defer close(done)
			s.handleRegister(f)
		}) {
			<-done
		}
	case "message":
		s.handleMessage(f)
	case "ping":
		s.send(map[string]string{"type": "pong"})
	case "ack":
		s.handleAck(f)
	case "":
		s.sendError(rejection(CodeInvalidFrame, "Invalid message format: the frame has no type"))
	default:
		s.sendError(rejection(CodeUnknownType, "Unknown message type: %.64q", f.Type))
	}
}

// parseFrame decodes a client frame, which must be a JSON object.
func parseFrame(data []byte) (*inFrame, *relayError) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, rejection(CodeInvalidJSON, "Invalid message format: the frame is not JSON")
		}
		return nil, rejection(CodeInvalidFrame, "Invalid message format: the frame is not a JSON object")
	}
	f, err := scanFrame(trimmed)
	if err == errFrameSyntax {
		return nil, rejection(CodeInvalidJSON, "Invalid message format: the frame is not JSON")
	}
	if err != nil {
		return nil, rejection(CodeInvalidFrame, "Invalid message format: %v", err)
	}
	return f, nil
}

func (s *wsSession) handleRegister(f *inFrame) {
	s.registering.Store(true)
	defer s.registering.Store(false)
	if s.Key() != "" {
		s.sendError(rejection(CodeAlreadyRegistered, "this connection is already registered"))
		return
	}
	if f.PublicKey == nil || *f.PublicKey == "" {
		s.sendError(rejection(CodeInvalidFrame, "Invalid registration: missing or invalid publicKey"))
		return
	}
	// Registrations take turns, so that a storm of them, each checking a signature and
	// building a peer list, leaves CPU time for the messages of registered sessions.
	select {
	case s.r.registerSlots <- struct{}{}:
	case <-s.done:
		return
	}
	defer func() { <-s.r.registerSlots }()
	key, err := protocol.ParsePublicKey(*f.PublicKey)
	if err != nil || key.String() != *f.PublicKey {
		s.sendError(rejection(CodeInvalidFrame, "Invalid registration: publicKey must be a lowercase SPKI hex Ed25519 key"))
		return
	}
	if err := checkMetadata(f.Metadata); err != nil {
		s.sendError(rejection(CodeInvalidFrame, "Invalid registration: %v", err))
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
	peers, cursor := s.r.registeredPeers(s.key)
	s.sendEncoded(encodeRegistered(s.key, s.id, peers))
	s.startPresence(cursor)
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
type peerRef struct {
	PublicKey string `json:"publicKey"`
}

// encodeRegistered builds the registered frame without reflection; in a registration storm
// its peer list has thousands of entries. Keys of registered sessions and storage peers are
// lowercase SPKI hex and session IDs are hex, so none needs escaping.
func encodeRegistered(key, sessionID string, peers []peerRef) []byte {
	buf := make([]byte, 0, 96+len(key)+len(sessionID)+len(peers)*(protocol.PublicKeyHexLen+18))
	buf = append(buf, `{"type":"registered","publicKey":`...)
	buf = appendQuoted(buf, key)
	buf = append(buf, `,"sessionId":`...)
	buf = appendQuoted(buf, sessionID)
	buf = append(buf, `,"peers":[`...)
	for i, p := range peers {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"publicKey":`...)
		buf = appendQuoted(buf, p.PublicKey)
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

// appendQuoted appends s as a JSON string. Strings of hex digits and other plain ASCII, such
// as keys and IDs, are copied as they are; any other string goes through encoding/json.
func appendQuoted(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s)
			return append(buf, quoted...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// registeredPeers returns the keys other than key that are connected or stored for, and the
// presence log position that the list reflects. Both are read under one lock, so that the
// session misses no event that happens after the list.
func (r *Relay) registeredPeers(key string) ([]peerRef, uint64) {
	r.mu.RLock()
	out := make([]peerRef, 0, len(r.peers))
	for k := range r.peers {
		if k != key {
			out = append(out, peerRef{PublicKey: k})
		}
	}
	var stored []peerRef
	for _, k := range r.storagePeerKeys() {
		if k != key && r.peers[k] == nil {
			stored = append(stored, peerRef{PublicKey: k})
		}
	}
	cursor := r.presence.head()
	r.mu.RUnlock()
	// The list is not sorted: in a registration storm of N keys, sorting N keys for each
	// registration cost more than the rest of the registration.
	return append(out, stored...), cursor
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

// handleAck deletes an acknowledged stored envelope. It replies only with an error, to an ack
// before register or without an id. Acking an envelope that is already gone, or that was never
// stored, changes nothing.
func (s *wsSession) handleAck(f *inFrame) {
	key := s.Key()
	if key == "" {
		s.sendError(rejection(CodeNotRegistered, "register before sending ack frames"))
		return
	}
	if f.ID == "" {
		s.sendError(rejection(CodeInvalidFrame, "Invalid ack: missing id"))
		return
	}
	if !s.r.isStoragePeer(key) {
		return
	}
	s.r.deleteStored(key, f.ID)
}
