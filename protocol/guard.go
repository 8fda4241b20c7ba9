package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Defaults of GuardConfig.
const (
	DefaultMaxIDs     = 500_000
	DefaultMaxSenders = 10_000
)

// GuardConfig configures a Guard. The zero value gives a freshness window of 10 minutes in the
// past and 2 in the future, a duplicate filter of 500,000 IDs, and no rate or content limit.
type GuardConfig struct {
	Freshness Freshness
	// DuplicateWindow is how long IDs are remembered. It is raised to the freshness window when
	// shorter, so that a replay is either a duplicate or stale at any time.
	DuplicateWindow time.Duration
	// MaxIDs bounds the duplicate filter (about 100 bytes per ID). Under a flood of more
	// distinct envelopes than this within one window, the oldest IDs are forgotten early and
	// counted by Stats.EarlyEvictions.
	MaxIDs int
	// SenderRate is envelopes per minute per sender (`from`); 0 turns the limit off.
	SenderRate float64
	// SenderBurst is the bucket size; 0 means one minute's worth of SenderRate.
	SenderBurst int
	// MaxSenders bounds the senders tracked by the rate limit; the idlest is dropped first.
	MaxSenders int
	// ContentWindow turns on the content duplicate filter: an envelope with the same sender,
	// type and payload as one admitted less than ContentWindow ago is dropped.
	ContentWindow time.Duration
	// Ignore lists senders whose envelopes are always dropped.
	Ignore []PublicKey
}

// Guard applies the ingress checks that every entry point runs on an inbound, verified envelope:
// ignore list, freshness, duplicate ID, per-sender rate limit and, when configured, duplicate
// content. It counts drops by reason. It is safe for concurrent use.
type Guard struct {
	freshness Freshness
	ids       *idFilter
	content   *idFilter // nil when off
	senders   *RateLimiter
	ignore    map[string]struct{}
	drops     map[Reason]*atomic.Uint64
}

// GuardReasons lists the reasons that Guard.Admit returns.
var GuardReasons = []Reason{
	ReasonIgnored, ReasonStale, ReasonFuture, ReasonDuplicate, ReasonRateLimited, ReasonContentDuplicate,
}

// NewGuard builds a Guard.
func NewGuard(cfg GuardConfig) *Guard {
	window := cfg.DuplicateWindow
	if !cfg.Freshness.Disabled && window < cfg.Freshness.Window() {
		window = cfg.Freshness.Window()
	}
	if window <= 0 {
		window = Freshness{}.Window()
	}
	if cfg.MaxIDs <= 0 {
		cfg.MaxIDs = DefaultMaxIDs
	}
	if cfg.MaxSenders <= 0 {
		cfg.MaxSenders = DefaultMaxSenders
	}
	burst := cfg.SenderBurst
	if burst <= 0 {
		burst = int(cfg.SenderRate)
	}
	g := &Guard{
		freshness: cfg.Freshness,
		ids:       newIDFilter(window, cfg.MaxIDs),
		senders:   NewRateLimiter(cfg.SenderRate, burst, cfg.MaxSenders),
		ignore:    make(map[string]struct{}, len(cfg.Ignore)),
		drops:     make(map[Reason]*atomic.Uint64, len(GuardReasons)),
	}
	if cfg.ContentWindow > 0 {
		g.content = newIDFilter(cfg.ContentWindow, cfg.MaxIDs)
	}
	for _, k := range cfg.Ignore {
		g.ignore[k.String()] = struct{}{}
	}
	for _, r := range GuardReasons {
		g.drops[r] = new(atomic.Uint64)
	}
	return g
}

// Admit returns nil when e may enter, or an *Error with the reason it is dropped. An admitted
// envelope's ID is remembered, so a second Admit of it returns ReasonDuplicate. An envelope
// dropped for its rate is not remembered and may be sent again later.
func (g *Guard) Admit(e *Envelope, now time.Time) error {
	return g.count(g.admit(e, idKey(e.ID), g.contentKeyOf(e, ""), now))
}

// AdmitTo is Admit for one hop of e toward recipient, which a relay makes for each recipient
// that a client names. It remembers the pair of ID and recipient. An envelope addressed to
// several keys thus passes once toward each of them, and a replay toward one of them is a
// duplicate. The content filter, when on, also counts per recipient.
func (g *Guard) AdmitTo(e *Envelope, recipient string, now time.Time) error {
	return g.count(g.admit(e, hopKey(e.ID, recipient), g.contentKeyOf(e, recipient), now))
}

// Forget undoes what Admit remembered about e, for an envelope that its receiver then
// refused, so that its sender can send it again unchanged. The rate limit is not refunded.
func (g *Guard) Forget(e *Envelope) {
	g.ids.remove(idKey(e.ID))
	if g.content != nil {
		g.content.remove(g.contentKeyOf(e, ""))
	}
}

// ForgetTo undoes what AdmitTo remembered about e and recipient, for an envelope that could
// not be delivered, so that its sender can send it again unchanged. The rate limit is not
// refunded.
func (g *Guard) ForgetTo(e *Envelope, recipient string) {
	g.ids.remove(hopKey(e.ID, recipient))
	if g.content != nil {
		g.content.remove(g.contentKeyOf(e, recipient))
	}
}

func (g *Guard) count(err error) error {
	if err != nil {
		if c := g.drops[ReasonOf(err)]; c != nil {
			c.Add(1)
		}
	}
	return err
}

func (g *Guard) admit(e *Envelope, id, content [32]byte, now time.Time) error {
	if _, ok := g.ignore[e.From]; ok {
		return newError(ReasonIgnored, "sender is on the ignore list")
	}
	if err := g.freshness.Check(e, now); err != nil {
		return err
	}
	if g.ids.contains(id, now) {
		return newError(ReasonDuplicate, "envelope %s was already received", e.ID)
	}
	if g.content != nil && g.content.contains(content, now) {
		return newError(ReasonContentDuplicate, "same sender, type and payload within %s", g.content.window)
	}
	if !g.senders.Allow(e.From, now) {
		return newError(ReasonRateLimited, "sender exceeded its rate limit")
	}
	// Two concurrent Admits of one ID both pass contains; add lets only the first through.
	if !g.ids.add(id, now) {
		return newError(ReasonDuplicate, "envelope %s was already received", e.ID)
	}
	if g.content != nil {
		g.content.add(content, now)
	}
	return nil
}

// contentKeyOf returns the content filter's key of e toward recipient ("" for every
// recipient), or the zero key when the filter is off.
func (g *Guard) contentKeyOf(e *Envelope, recipient string) [32]byte {
	if g.content == nil {
		return [32]byte{}
	}
	return contentKey(e, recipient)
}

// hopKey is the duplicate filter's key of an envelope ID toward one recipient.
func hopKey(id, recipient string) [32]byte {
	// An ID and a key fit the stack buffer, so the relay's hot path allocates nothing here.
	buf := make([]byte, 0, 256)
	buf = append(buf, id...)
	buf = append(buf, 0)
	buf = append(buf, recipient...)
	return sha256.Sum256(buf)
}

// idKey turns a verified envelope ID (64 hex digits) into its 32 bytes. Any other string is
// hashed, so that the filter works for unverified input too.
func idKey(id string) [32]byte {
	var k [32]byte
	if len(id) == 64 {
		if _, err := hex.Decode(k[:], []byte(id)); err == nil {
			return k
		}
	}
	return sha256.Sum256([]byte(id))
}

func contentKey(e *Envelope, recipient string) [32]byte {
	h := sha256.New()
	h.Write([]byte(recipient))
	h.Write([]byte{0})
	h.Write([]byte(e.From))
	h.Write([]byte{0})
	h.Write([]byte(e.Type))
	h.Write([]byte{0})
	h.Write(e.Payload)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Drops returns the number of envelopes dropped so far, by reason.
func (g *Guard) Drops() map[Reason]uint64 {
	out := make(map[Reason]uint64, len(g.drops))
	for r, c := range g.drops {
		out[r] = c.Load()
	}
	return out
}

// GuardStats describes the memory a Guard holds.
type GuardStats struct {
	IDs            int    // IDs remembered by the duplicate filter
	EarlyEvictions uint64 // IDs forgotten before their window ended, because of MaxIDs
	Senders        int    // senders tracked by the rate limit
}

// Stats returns the current GuardStats.
func (g *Guard) Stats() GuardStats {
	g.ids.mu.Lock()
	early := g.ids.earlyEvictions
	g.ids.mu.Unlock()
	return GuardStats{IDs: g.ids.len(), EarlyEvictions: early, Senders: g.senders.Len()}
}
