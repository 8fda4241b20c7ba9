package relaymode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

// register adds s under its key. It rejects a new key when MaxPeers keys are connected, and
// sends peer_online to the other sessions when s is the key's first session.
func (r *Relay) register(s session, metadata map[string]any) error {
	r.mu.Lock()
	entry, ok := r.peers[s.Key()]
	if !ok {
		if len(r.peers) >= r.cfg.MaxPeers {
			r.mu.Unlock()
			return rejection(CodeCapacity, "relay is at capacity (max %d peers)", r.cfg.MaxPeers)
		}
		entry = &peerEntry{sessions: make(map[string]session)}
		r.peers[s.Key()] = entry
	} else if limit := r.cfg.MaxSessionsPerKey; limit > 0 && len(entry.sessions) >= limit {
		r.mu.Unlock()
		return rejection(CodeSessionLimit, "this key has %d sessions open, the most the relay allows", limit)
	}
	entry.sessions[s.ID()] = s
	entry.lastSeen = time.Now()
	if metadata != nil {
		entry.metadata = metadata
	}
	if len(entry.sessions) == 1 {
		r.presence.publish(s.Key(), true)
	}
	r.mu.Unlock()
	r.metrics.SessionOpened(s.Kind())
	return nil
}

// unregister removes s. When it was its key's last session, the other sessions hear
// peer_offline, unless the key is a storage peer, which counts as always reachable.
func (r *Relay) unregister(s session) {
	r.mu.Lock()
	entry, ok := r.peers[s.Key()]
	if !ok || entry.sessions[s.ID()] != s {
		r.mu.Unlock()
		return
	}
	delete(entry.sessions, s.ID())
	if len(entry.sessions) == 0 {
		delete(r.peers, s.Key())
		if !r.isStoragePeer(s.Key()) {
			r.presence.publish(s.Key(), false)
		}
	}
	r.mu.Unlock()
	r.metrics.SessionClosed(s.Kind())
}

func (r *Relay) isStoragePeer(key string) bool {
	return r.cfg.Store != nil && r.cfg.Store.IsStoragePeer(key)
}

// MaxMetadataBytes bounds the JSON text of the metadata a client registers with. Every peer
// list carries the metadata of each key in it, so without a bound a few clients could make
// every peer list megabytes long.
const MaxMetadataBytes = 4096

// checkMetadata rejects registration metadata whose JSON text exceeds MaxMetadataBytes.
func checkMetadata(m map[string]any) error {
	if m == nil {
		return nil
	}
	// Compact JSON without HTML escaping, so that "<" counts as one byte, as a client wrote it.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("metadata cannot be encoded: %v", err)
	}
	if n := buf.Len() - 1; n > MaxMetadataBytes { // Encode ends with a newline
		return fmt.Errorf("metadata has %d bytes of compact JSON; at most %d are allowed", n, MaxMetadataBytes)
	}
	return nil
}

// peerInfo is one entry of a peer list.
type peerInfo struct {
	PublicKey string         `json:"publicKey"`
	LastSeen  int64          `json:"lastSeen,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// peerList returns the connected keys other than exclude, sorted by key, each with the time it
// was last active.
func (r *Relay) peerList(exclude string) []peerInfo {
	r.mu.RLock()
	out := make([]peerInfo, 0, len(r.peers))
	for k, p := range r.peers {
		if k != exclude {
			out = append(out, peerInfo{PublicKey: k, LastSeen: p.lastSeen.UnixMilli(), Metadata: p.metadata})
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].PublicKey < out[j].PublicKey })
	return out
}

// touch records activity of key.
func (r *Relay) touch(key string) {
	r.mu.Lock()
	if p, ok := r.peers[key]; ok {
		p.lastSeen = time.Now()
	}
	r.mu.Unlock()
}

// outcome is how an envelope reached its recipient.
type outcome string

const (
	outcomeDelivered outcome = "delivered" // queued on at least one session of the recipient
	outcomeForwarded outcome = "forwarded" // acked by the recipient's node in the mesh
	outcomeStored    outcome = "stored"    // committed to the store for an offline storage peer
)

// ingest runs the checks of a front-door envelope that the client of sender sent for to, then
// routes it. raw is the envelope's wire text.
func (r *Relay) ingest(ctx context.Context, raw []byte, sender, to string) (*protocol.Envelope, outcome, error) {
	env, err := protocol.Verify(raw, r.cfg.Limits)
	if err != nil {
		return nil, "", r.reject(fromProtocol(err, claimedID(raw, r.cfg.Limits.MaxBytes)))
	}
	if env.From != sender {
		return env, "", r.reject(&relayError{code: CodeSenderMismatch, id: env.ID,
			message: "envelope sender does not match the registered public key"})
	}
	if !env.IsRecipient(to) {
		return env, "", r.reject(&relayError{code: CodeRecipientMismatch, id: env.ID,
			message: "envelope recipients do not include the requested recipient"})
	}
	if err := r.guard.AdmitTo(env, to, time.Now()); err != nil {
		return env, "", r.reject(fromProtocol(err, env.ID))
	}
	r.touch(sender)
	if to == r.selfKey && env.Type == "peer_list_request" {
		return env, outcomeDelivered, r.answerPeerList(env)
	}
	out, err := r.route(ctx, env, to)
	if err != nil {
		// Nothing was delivered, so the sender may send the same envelope again later.
		r.guard.ForgetTo(env, to)
		return env, "", r.reject(fromProtocol(err, env.ID))
	}
	return env, out, nil
}

func (r *Relay) reject(e *relayError) error {
	r.metrics.Refused(e.code)
	if ok, skipped := r.sampler.allow("rejected:"+e.code, time.Now()); ok {
		r.log.Info("envelope rejected", "code", e.code, "reason", e.reason, "envelope", e.id,
			"detail", e.message, "similarSkipped", skipped)
	}
	return e
}

// route delivers a verified, admitted envelope to one recipient: its live sessions first,
// then the store when it is a storage peer, then the mesh.
func (r *Relay) route(ctx context.Context, env *protocol.Envelope, to string) (outcome, error) {
	if r.deliverLocal(env, to) {
		r.metrics.Relayed()
		return outcomeDelivered, nil
	}
	if r.isStoragePeer(to) {
		if err := r.cfg.Store.Put(ctx, to, env); err != nil {
			re := storeError(err)
			// A full quota rejects the client's envelope, and reject logs it with the other
			// rejections. Any other store error is the relay's own failure.
			if re.code != CodeQuotaExceeded {
				r.log.Error("storing an envelope failed", "envelope", env.ID, "recipient", to, "err", err)
			}
			return "", re
		}
		r.metrics.Relayed()
		return outcomeStored, nil
	}
	if to == r.selfKey {
		return outcomeDelivered, nil
	}
	return r.forward(ctx, env, to)
}

// deliverLocal queues env on every session of to and reports whether any took it.
func (r *Relay) deliverLocal(env *protocol.Envelope, to string) bool {
	r.mu.RLock()
	entry := r.peers[to]
	var targets []session
	if entry != nil {
		for _, s := range entry.sessions {
			targets = append(targets, s)
		}
	}
	r.mu.RUnlock()
	delivered := false
	for _, s := range targets {
		if s.deliver(env) {
			delivered = true
		}
	}
	return delivered
}

// forward hands env to the mesh peer of key to, when the node is connected to it or has
// its addresses in the peerstore. Unknown keys are not searched for in the DHT, so a typo fails fast.
func (r *Relay) forward(ctx context.Context, env *protocol.Envelope, to string) (outcome, error) {
	key, err := protocol.ParsePublicKey(to)
	if err != nil {
		return "", rejection(CodeUnknownRecipient, "Recipient not connected: %s", to)
	}
	pid := key.PeerID()
	h := r.node.Host()
	if h.Network().Connectedness(pid) != network.Connected && len(h.Peerstore().Addrs(pid)) == 0 {
		return "", rejection(CodeUnknownRecipient, "Recipient not connected: %s", to)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ForwardTimeout)
	defer cancel()
	if err := r.node.Forward(ctx, pid, env); err != nil {
		r.log.Debug("forwarding to a mesh peer failed", "envelope", env.ID, "peer", pid, "err", err)
		re := rejection(CodeDeliveryFailed, "mesh peer %s did not accept the envelope: %v", pid, err)
		re.reason = protocol.ReasonOf(err)
		return "", re
	}
	r.metrics.Relayed()
	return outcomeForwarded, nil
}

// handleMesh is the node's Handler: it routes envelopes that mesh peers send to the relay
// node for its front-door clients. The envelope was verified and admitted by the node.
func (r *Relay) handleMesh(ctx context.Context, in node.Inbound) error {
	env := in.Envelope
	accepted := false
	var firstErr error
	for _, to := range env.To {
		if to == r.selfKey {
			accepted = true
			continue
		}
		if !r.hasSession(to) && !r.isStoragePeer(to) {
			continue
		}
		if _, err := r.route(ctx, env, to); err != nil {
			firstErr = err
			continue
		}
		accepted = true
	}
	if accepted {
		return nil
	}
	if firstErr != nil {
		return &protocol.Error{Reason: "delivery_failed", Detail: firstErr.Error()}
	}
	return &protocol.Error{Reason: "not_recipient", Detail: "no recipient of the envelope is connected to this relay"}
}

func (r *Relay) hasSession(key string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.peers[key] != nil
}

// answerPeerList sends a signed peer_list_response to the sender of a peer_list_request
// addressed to the relay, as the earlier relay does.
func (r *Relay) answerPeerList(req *protocol.Envelope) error {
	var payload struct {
		Filters struct {
			ActiveWithin float64 `json:"activeWithin"`
			Limit        int     `json:"limit"`
		} `json:"filters"`
	}
	_ = json.Unmarshal(req.Payload, &payload) // absent or malformed filters mean none
	peers := r.peerList(req.From)
	total := len(peers)
	if within := payload.Filters.ActiveWithin; within > 0 {
		now := time.Now().UnixMilli()
		kept := peers[:0]
		for _, p := range peers {
			if float64(now-p.LastSeen) < within {
				kept = append(kept, p)
			}
		}
		peers = kept
	}
	if limit := payload.Filters.Limit; limit > 0 && len(peers) > limit {
		peers = peers[:limit]
	}
	peers = fitPeers(peers, r.cfg.Limits.MaxBytes-peerListReserve)
	resp, err := protocol.CreateEnvelope(r.key, "peer_list_response", []string{req.From},
		map[string]any{"peers": peers, "totalPeers": total, "relayPublicKey": r.selfKey},
		&protocol.CreateOptions{InReplyTo: req.ID})
	if err != nil {
		return err
	}
	if !r.deliverLocal(resp, req.From) {
		return errors.New("requester has no open session")
	}
	return nil
}

// peerListReserve is the room left in a peer_list_response envelope for everything but the
// peer entries: the envelope's own fields and the payload's other members.
const peerListReserve = 4096

// fitPeers returns the first peers whose JSON text adds up to at most budget bytes, so that
// the peer_list_response stays within the envelope size limit that clients check.
// totalPeers still counts every peer, so a client can tell that the list was cut.
func fitPeers(peers []peerInfo, budget int) []peerInfo {
	used := 0
	for i, p := range peers {
		data, err := json.Marshal(p)
		if err != nil {
			return peers[:i]
		}
		used += len(data) + 1 // and a comma
		if used > budget {
			return peers[:i]
		}
	}
	return peers
}

// storeError turns a Store.Put error into a relayError.
func storeError(err error) *relayError {
	var q interface{ QuotaExceeded() bool }
	if errors.As(err, &q) && q.QuotaExceeded() {
		return rejection(CodeQuotaExceeded, "%v", err)
	}
	return rejection(CodeDeliveryFailed, "store: %v", err)
}

// claimedID returns the `id` field of an envelope that failed verification, so that the error
// frame names the envelope the client sent. It is the client's claim, not a checked address.
func claimedID(raw []byte, maxBytes int) string {
	if len(raw) > maxBytes {
		return ""
	}
	var e struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &e) != nil || len(e.ID) > 128 {
		return ""
	}
	return e.ID
}
