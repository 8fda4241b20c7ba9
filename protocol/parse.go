package protocol

import (
	"github.com/oasisprotocol/curve25519-voi/curve"
)

// parse decodes an envelope, checks its structure and returns it with its canonical form.
// The routing checks and their reason come first, as in the earlier implementation.
func parse(data []byte, lim Limits) (*Envelope, []byte, error) {
	lim = lim.WithDefaults()
	if len(data) > lim.MaxBytes {
		return nil, nil, newError(ReasonTooLarge, "envelope of %d bytes exceeds the limit of %d", len(data), lim.MaxBytes)
	}
	v, err := decodeJSON(data, lim.MaxDepth)
	if err != nil {
		return nil, nil, err
	}
	obj, ok := v.(*jsonObject)
	if !ok {
		return nil, nil, newError(ReasonInvalidRoutingFields, "envelope is not a JSON object")
	}
	e := &Envelope{}
	if err := readRouting(obj, e, lim); err != nil {
		return nil, nil, err
	}
	if err := readFields(obj, e); err != nil {
		return nil, nil, err
	}
	return e, e.Canonical(), nil
}

func readRouting(obj *jsonObject, e *Envelope, lim Limits) error {
	from, _ := obj.get("from")
	e.From, _ = from.(string)
	if e.From == "" {
		return newError(ReasonInvalidRoutingFields, "from is missing, empty or not a string")
	}
	toValue, _ := obj.get("to")
	to, ok := toValue.([]any)
	if !ok || len(to) == 0 {
		return newError(ReasonInvalidRoutingFields, "to is missing, empty or not an array")
	}
	if len(to) > lim.MaxRecipients {
		return newError(ReasonTooManyRecipients, "%d recipients exceed the limit of %d", len(to), lim.MaxRecipients)
	}
	e.To = make([]string, len(to))
	for i, r := range to {
		s, ok := r.(string)
		if !ok {
			return newError(ReasonInvalidRecipient, "to[%d] is not a string", i)
		}
		e.To[i] = s
	}
	return nil
}

func readFields(obj *jsonObject, e *Envelope) error {
	typ, _ := obj.get("type")
	if e.Type, _ = typ.(string); e.Type == "" {
		return newError(ReasonInvalidField, "type is missing, empty or not a string")
	}
	ts, _ := obj.get("timestamp")
	t, ok := ts.(float64)
	if !ok || !validTimestamp(t) {
		return newError(ReasonInvalidField, "timestamp is not a number of milliseconds")
	}
	e.Timestamp = t
	if reply, present := obj.get("inReplyTo"); present {
		e.HasInReplyTo = true
		if reply != nil {
			s, ok := reply.(string)
			if !ok || s == "" {
				return newError(ReasonInvalidField, "inReplyTo is neither a non-empty string nor null")
			}
			e.InReplyTo = s
		}
	}
	payload, present := obj.get("payload")
	if !present {
		return newError(ReasonInvalidField, "payload is missing")
	}
	e.Payload = appendCanonical(make([]byte, 0, 64), payload)
	// id and signature of another JSON type are left empty, so they fail their checks.
	id, _ := obj.get("id")
	e.ID, _ = id.(string)
	sig, _ := obj.get("signature")
	e.Signature, _ = sig.(string)
	return nil
}

// isSmallOrder reports whether p decodes to a point of small order (or does not decode). Anyone
// can forge a signature that crypto/ed25519 accepts for such a key.
func isSmallOrder(p PublicKey) bool {
	var compressed curve.CompressedEdwardsY
	if _, err := compressed.SetBytes(p[:]); err != nil {
		return true
	}
	var point curve.EdwardsPoint
	if _, err := point.SetCompressedY(&compressed); err != nil {
		return true
	}
	return point.IsSmallOrder()
}
