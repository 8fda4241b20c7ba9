package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/multiformats/go-varint"

	"github.com/agora-p2p/agora/protocol"
)

// Protocol IDs of the agora stream protocols.
const (
	EnvelopeProtocol = "/agora/envelope/1.0.0"
	ForwardProtocol  = "/agora/forward/1.0.0"
)

// Reasons of the stream protocols, sent in acks in addition to those of package protocol.
const (
	// ReasonSenderMismatch: on the envelope protocol, `from` is not the key of the peer that
	// sent the envelope.
	ReasonSenderMismatch protocol.Reason = "sender_mismatch"
	// ReasonNotRecipient: this node's key is not in `to` and no handler takes the envelope.
	ReasonNotRecipient protocol.Reason = "not_recipient"
	// ReasonBusy: the receiver's inbound queue is full; the sender may retry later with a new
	// envelope.
	ReasonBusy protocol.Reason = "busy"
	// ReasonRejected: the receiver's handler rejected the envelope without a reason code.
	ReasonRejected protocol.Reason = "rejected"
)

// Frame limits.
const (
	maxAckBytes       = 4096
	maxAckMessageLen  = 512
	maxVarintLenBytes = 10
)

var errFrameTooLarge = errors.New("frame exceeds the size limit")

// ack is the receiver's verdict on one envelope frame. ID is empty when the receiver could not
// read the envelope's id; senders match acks to frames by order.
type ack struct {
	ID      string          `json:"id"`
	OK      bool            `json:"ok"`
	Reason  protocol.Reason `json:"reason,omitempty"`
	Message string          `json:"message,omitempty"`
}

func ackFor(id string, err error) ack {
	if err == nil {
		return ack{ID: id, OK: true}
	}
	reason := protocol.ReasonOf(err)
	if reason == "" {
		// A handler error without a reason may describe the receiver's internals, so only
		// the receiver's log gets its text.
		return ack{ID: id, Reason: ReasonRejected, Message: "the receiver's handler rejected the envelope"}
	}
	return ack{ID: id, Reason: reason, Message: truncateUTF8(err.Error(), maxAckMessageLen)}
}

// err turns a negative ack into a *protocol.Error so that protocol.ReasonOf works on it.
func (a ack) err() error {
	if a.OK {
		return nil
	}
	reason := a.Reason
	if reason == "" {
		reason = ReasonRejected
	}
	return &protocol.Error{Reason: reason, Detail: a.Message}
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// writeFrame writes one unsigned-varint length-prefixed frame. The caller flushes w.
func writeFrame(w *bufio.Writer, data []byte) error {
	var prefix [maxVarintLenBytes]byte
	n := varint.PutUvarint(prefix[:], uint64(len(data)))
	if _, err := w.Write(prefix[:n]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// readFrameLen reads the varint length prefix of the next frame and checks it against max.
// go-varint rejects non-minimal encodings and values above 2^63.
func readFrameLen(r *bufio.Reader, max int) (int, error) {
	size, err := varint.ReadUvarint(r)
	if err != nil {
		return 0, err
	}
	if size > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, size, max)
	}
	return int(size), nil
}

func readFrameBody(r io.Reader, size int) ([]byte, error) {
	buf := make([]byte, size)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func writeAck(w *bufio.Writer, a ack) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := writeFrame(w, data); err != nil {
		return err
	}
	return w.Flush()
}

func readAck(r *bufio.Reader) (ack, error) {
	size, err := readFrameLen(r, maxAckBytes)
	if err != nil {
		return ack{}, err
	}
	body, err := readFrameBody(r, size)
	if err != nil {
		return ack{}, err
	}
	var a ack
	if err := json.Unmarshal(body, &a); err != nil {
		return ack{}, fmt.Errorf("invalid ack frame: %w", err)
	}
	return a, nil
}
