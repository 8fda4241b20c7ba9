package protocol

import (
	"errors"
	"fmt"
)

// Reason is a machine-readable code that says why an envelope was rejected.
type Reason string

// Reasons that the earlier implementation also returns.
const (
	ReasonInvalidRoutingFields Reason = "invalid_routing_fields"
	ReasonIDMismatch           Reason = "id_mismatch"
	ReasonSignatureInvalid     Reason = "signature_invalid"
)

// Reasons of this implementation's stricter checks.
const (
	// ReasonMalformedJSON: the text is not JSON (the earlier implementation throws here).
	ReasonMalformedJSON Reason = "malformed_json"
	// ReasonTooLarge: the envelope text exceeds Limits.MaxBytes.
	ReasonTooLarge Reason = "too_large"
	// ReasonTooManyRecipients: `to` lists more than Limits.MaxRecipients keys.
	ReasonTooManyRecipients Reason = "too_many_recipients"
	// ReasonTooDeep: JSON nesting exceeds Limits.MaxDepth.
	ReasonTooDeep Reason = "too_deep"
	// ReasonDuplicateKey: an object holds the same key twice, so two parsers could read two
	// different payloads under one signature.
	ReasonDuplicateKey Reason = "duplicate_key"
	// ReasonInvalidString: a string holds a lone UTF-16 surrogate or the text is not UTF-8.
	ReasonInvalidString Reason = "invalid_string"
	// ReasonInvalidField: type, timestamp, payload or inReplyTo is missing or of the wrong JSON type.
	ReasonInvalidField Reason = "invalid_field"
	// ReasonInvalidSender: `from` is a key, but not in its canonical lowercase SPKI hex spelling.
	ReasonInvalidSender Reason = "invalid_sender"
	// ReasonInvalidRecipient: an entry of `to` is not a canonical SPKI hex public key.
	ReasonInvalidRecipient Reason = "invalid_recipient"
	// ReasonWeakKey: `from` is a small-order point, for which signatures can be forged.
	ReasonWeakKey Reason = "weak_key"
	// ReasonSignatureMalformed: the signature is not a plain hex string (the earlier
	// implementation silently ignores trailing garbage and odd digits).
	ReasonSignatureMalformed Reason = "signature_malformed"
)

// Reasons of the ingress guards.
const (
	ReasonDuplicate        Reason = "duplicate"
	ReasonContentDuplicate Reason = "content_duplicate"
	ReasonRateLimited      Reason = "rate_limited"
	ReasonStale            Reason = "stale"
	ReasonFuture           Reason = "future"
	ReasonIgnored          Reason = "ignored"
)

// Reasons of the webhook text form.
const (
	ReasonNotAgoraMessage Reason = "not_agora_message"
	ReasonInvalidBase64   Reason = "invalid_base64"
	ReasonInvalidJSON     Reason = "invalid_json"
	ReasonUnknownSender   Reason = "unknown_sender"
)

// Error is a rejection with its reason code and a human-readable detail.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

func newError(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "" when there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
