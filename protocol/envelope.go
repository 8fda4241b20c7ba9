package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Envelope is a signed, content-addressed agora message. Values returned by Verify, Parse and
// CreateEnvelope are complete; an Envelope built by hand is not trusted by anything.
type Envelope struct {
	// ID is the lowercase hex SHA-256 of the canonical form.
	ID   string
	Type string
	// From is the sender's public key in SPKI hex.
	From string
	// To lists the recipients' public keys in SPKI hex.
	To []string
	// Timestamp is milliseconds since the Unix epoch. It is a float64 because the wire form
	// allows fractions, which the signature covers.
	Timestamp float64
	// InReplyTo is the ID of the envelope this one replies to. It is signed only when present.
	InReplyTo string
	// HasInReplyTo reports that the field is present on the wire. It may be present with a
	// null value (InReplyTo empty), which the signature covers as null.
	HasInReplyTo bool
	// Payload is the payload in canonical JSON.
	Payload json.RawMessage
	// Signature is the hex Ed25519 signature over the canonical form, as received.
	Signature string
}

// Limits bound what Verify and Parse accept from the network.
type Limits struct {
	MaxBytes      int // envelope text, in bytes
	MaxRecipients int // entries of `to`
	MaxDepth      int // nesting of JSON arrays and objects, the envelope object included
}

// Default limits.
const (
	DefaultMaxBytes      = 1 << 20
	DefaultMaxRecipients = 100
	DefaultMaxDepth      = 64
)

// DefaultLimits returns 1 MiB, 100 recipients and 64 levels of nesting.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxRecipients: DefaultMaxRecipients, MaxDepth: DefaultMaxDepth}
}

// WithDefaults returns l with zero or negative fields replaced by the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxRecipients <= 0 {
		l.MaxRecipients = DefaultMaxRecipients
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Time returns the timestamp as a time.Time.
func (e *Envelope) Time() time.Time {
	return time.UnixMilli(int64(e.Timestamp))
}

// Sender parses From.
func (e *Envelope) Sender() (PublicKey, error) { return ParsePublicKey(e.From) }

// Recipients parses To.
func (e *Envelope) Recipients() ([]PublicKey, error) {
	keys := make([]PublicKey, 0, len(e.To))
	for _, s := range e.To {
		k, err := ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// IsRecipient reports whether key (SPKI hex) is listed in To.
func (e *Envelope) IsRecipient(key string) bool {
	for _, to := range e.To {
		if to == key {
			return true
		}
	}
	return false
}

// Canonical returns the bytes that ID hashes and Signature signs.
func (e *Envelope) Canonical() []byte {
	buf := make([]byte, 0, 256+len(e.Payload)+len(e.To)*(PublicKeyHexLen+3))
	buf = append(buf, `{"from":`...)
	buf = appendString(buf, e.From)
	buf = e.appendInReplyTo(buf)
	buf = append(buf, `,"payload":`...)
	buf = append(buf, e.Payload...)
	buf = append(buf, `,"timestamp":`...)
	buf = appendNumber(buf, e.Timestamp)
	buf = append(buf, `,"to":[`...)
	buf = appendStrings(buf, e.To)
	buf = append(buf, `],"type":`...)
	buf = appendString(buf, e.Type)
	return append(buf, '}')
}

// appendInReplyTo appends the inReplyTo member when the field is present, as null when it is
// present without a value.
func (e *Envelope) appendInReplyTo(buf []byte) []byte {
	if !e.HasInReplyTo {
		return buf
	}
	buf = append(buf, `,"inReplyTo":`...)
	if e.InReplyTo == "" {
		return append(buf, "null"...)
	}
	return appendString(buf, e.InReplyTo)
}

// appendStrings appends the elements of list separated by commas, without brackets.
func appendStrings(buf []byte, list []string) []byte {
	for i, s := range list {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, s)
	}
	return buf
}

// MarshalJSON writes the wire form. Its field order matches the earlier implementation's.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	payload := e.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	buf := make([]byte, 0, 384+len(payload)+len(e.To)*(PublicKeyHexLen+3))
	buf = append(buf, `{"id":`...)
	buf = appendString(buf, e.ID)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, e.Type)
	buf = append(buf, `,"from":`...)
	buf = appendString(buf, e.From)
	buf = append(buf, `,"to":[`...)
	buf = appendStrings(buf, e.To)
	buf = append(buf, `],"timestamp":`...)
	buf = appendNumber(buf, e.Timestamp)
	buf = e.appendInReplyTo(buf)
	buf = append(buf, `,"payload":`...)
	buf = append(buf, payload...)
	buf = append(buf, `,"signature":`...)
	buf = appendString(buf, e.Signature)
	return append(buf, '}'), nil
}

// CreateOptions are the optional fields of CreateEnvelope.
type CreateOptions struct {
	InReplyTo string
	Timestamp time.Time // zero means now
}

// CreateEnvelope builds and signs an envelope. Recipients are normalized as the earlier
// implementation does: empty entries and repeats are dropped, and an empty list becomes
// [sender]. payload is JSON text when it is a json.RawMessage, else any value that
// encoding/json can marshal.
func CreateEnvelope(k *KeyPair, typ string, to []string, payload any, opts *CreateOptions) (*Envelope, error) {
	if typ == "" {
		return nil, fmt.Errorf("create envelope: empty type")
	}
	canonicalPayload, err := canonicalizePayload(payload)
	if err != nil {
		return nil, fmt.Errorf("create envelope: %w", err)
	}
	if opts == nil {
		opts = &CreateOptions{}
	}
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	e := &Envelope{
		Type:         typ,
		From:         k.PublicKey().String(),
		To:           normalizeRecipients(to, k.PublicKey().String()),
		Timestamp:    float64(ts.UnixMilli()),
		InReplyTo:    opts.InReplyTo,
		HasInReplyTo: opts.InReplyTo != "",
		Payload:      canonicalPayload,
	}
	canonical := e.Canonical()
	sum := sha256.Sum256(canonical)
	e.ID = hex.EncodeToString(sum[:])
	e.Signature = hex.EncodeToString(k.Sign(canonical))
	return e, nil
}

func normalizeRecipients(to []string, self string) []string {
	out := make([]string, 0, len(to))
	seen := make(map[string]struct{}, len(to))
	for _, r := range to {
		if r == "" {
			continue
		}
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		out = append(out, r)
	}
	if len(out) == 0 {
		out = append(out, self)
	}
	return out
}

func canonicalizePayload(payload any) (json.RawMessage, error) {
	var text []byte
	switch p := payload.(type) {
	case json.RawMessage:
		text = p
	default:
		var err error
		if text, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("marshal payload: %w", err)
		}
	}
	v, err := decodeJSON(text, DefaultMaxDepth)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return appendCanonical(nil, v), nil
}

// Verify parses an envelope received from the network and checks it completely: size, JSON
// syntax, nesting, field types, recipients, content address and signature. On failure the error
// is a *Error whose Reason names the first check that failed.
func Verify(data []byte, lim Limits) (*Envelope, error) {
	e, canonical, err := parse(data, lim)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canonical)
	if !hexEqual(e.ID, sum[:]) {
		return nil, newError(ReasonIDMismatch, "id is not the SHA-256 of the canonical form")
	}
	if err := verifySignature(e, canonical); err != nil {
		return nil, err
	}
	return e, checkStrict(e)
}

// Parse reads an envelope without checking its ID or signature. Use it only for envelopes that
// were verified before, such as those read back from the relay's own store.
func Parse(data []byte, lim Limits) (*Envelope, error) {
	e, _, err := parse(data, lim)
	return e, err
}

func hexEqual(id string, sum []byte) bool {
	if len(id) != 2*len(sum) {
		return false
	}
	for i, b := range sum {
		if id[2*i] != hexDigits[b>>4] || id[2*i+1] != hexDigits[b&0xf] {
			return false
		}
	}
	return true
}

func verifySignature(e *Envelope, canonical []byte) error {
	sig, err := hex.DecodeString(e.Signature)
	if err != nil {
		return newError(ReasonSignatureMalformed, "signature is not hex: %v", err)
	}
	// A `from` that is no key fails here, as in the earlier implementation.
	pk, err := parseSPKIHex(e.From)
	if err != nil {
		return newError(ReasonSignatureInvalid, "from: %v", err)
	}
	if !senderKeys.get(pk).verify(canonical, sig) {
		return newError(ReasonSignatureInvalid, "signature does not verify for from")
	}
	return nil
}

// checkStrict applies the checks that the earlier implementation lacks, after the checks it has,
// so that every envelope it rejects gets the same reason here.
func checkStrict(e *Envelope) error {
	pk, _ := parseSPKIHex(e.From)
	if pk.String() != e.From {
		return newError(ReasonInvalidSender, "from is not in lowercase SPKI hex")
	}
	if senderKeys.get(pk).smallOrder {
		return newError(ReasonWeakKey, "from is a small-order point")
	}
	for i, to := range e.To {
		rk, err := parseSPKIHex(to)
		if err != nil || rk.String() != to {
			return newError(ReasonInvalidRecipient, "to[%d] is not a lowercase SPKI hex public key", i)
		}
	}
	return nil
}

// validTimestamp reports whether t is finite and within ±1e15 ms (about 31,000 years) of the
// epoch, so that time.UnixMilli can hold it.
func validTimestamp(t float64) bool {
	return !math.IsNaN(t) && !math.IsInf(t, 0) && math.Abs(t) < 1e15
}
