package relaymode

import (
	"errors"
	"fmt"

	"github.com/agora-p2p/agora/protocol"
)

// Codes of error frames and REST error bodies. docs/websocket-protocol.md describes each.
const (
	CodeInvalidJSON       = "invalid_json"       // the frame is not JSON
	CodeInvalidFrame      = "invalid_frame"      // not an object, or a field is missing or of the wrong type
	CodeUnknownType       = "unknown_type"       // the frame type is not known
	CodeNotRegistered     = "not_registered"     // a message before register
	CodeAlreadyRegistered = "already_registered" // a second register on one connection
	CodeUnauthenticated   = "unauthenticated"    // register without a valid challenge signature
	CodeCapacity          = "capacity"           // MaxPeers distinct keys are connected
	CodeSessionLimit      = "session_limit"      // the key has MaxSessionsPerKey sessions open
	CodeInvalid           = "invalid"            // the envelope failed verification; `reason` names the failed check
	CodeSenderMismatch    = "sender_mismatch"    // envelope `from` is not the registered key
	CodeRecipientMismatch = "recipient_mismatch" // the frame's `to` is not in the envelope's `to`
	CodeDuplicate         = "duplicate"          // the envelope ID was relayed before
	CodeRateLimited       = "rate_limited"       // the sender exceeded its rate
	CodeStale             = "stale"              // the timestamp is older than the freshness window
	CodeFuture            = "future"             // the timestamp is ahead of the freshness window
	CodeIgnored           = "ignored"            // the sender is on the ignore list
	CodeUnknownRecipient  = "unknown_recipient"  // no session, mesh peer or store takes the recipient
	CodeDeliveryFailed    = "delivery_failed"    // a mesh peer or the store rejected the envelope
	CodeQuotaExceeded     = "quota_exceeded"     // the store is full for this recipient
	CodeTooLarge          = "too_large"          // the frame exceeds the size limit
)

// relayError is a rejection with its code, for error frames and REST bodies.
type relayError struct {
	code    string
	reason  protocol.Reason // the protocol reason behind CodeInvalid and the guard codes
	message string
	id      string // envelope ID when known
}

func (e *relayError) Error() string { return e.code + ": " + e.message }

func rejection(code, format string, args ...any) *relayError {
	return &relayError{code: code, message: fmt.Sprintf(format, args...)}
}

// guardCodes maps the reasons of protocol.Guard to codes of the same name.
var guardCodes = map[protocol.Reason]string{
	protocol.ReasonDuplicate:        CodeDuplicate,
	protocol.ReasonContentDuplicate: CodeDuplicate,
	protocol.ReasonRateLimited:      CodeRateLimited,
	protocol.ReasonStale:            CodeStale,
	protocol.ReasonFuture:           CodeFuture,
	protocol.ReasonIgnored:          CodeIgnored,
}

// fromProtocol turns a verification or guard error into a relayError.
func fromProtocol(err error, id string) *relayError {
	var re *relayError
	if errors.As(err, &re) {
		if re.id == "" {
			re.id = id
		}
		return re
	}
	reason := protocol.ReasonOf(err)
	code, ok := guardCodes[reason]
	if !ok {
		code = CodeInvalid
		if reason == protocol.ReasonTooLarge {
			code = CodeTooLarge
		}
	}
	return &relayError{code: code, reason: reason, message: err.Error(), id: id}
}
