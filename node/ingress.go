package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/agora-p2p/agora/protocol"
)

// streamKind describes the protocol of an inbound stream.
type streamKind struct {
	via     string                // ViaDirect or ViaForwarded
	limiter *protocol.RateLimiter // per transport peer
}

func (n *Node) handleEnvelopeStream(s network.Stream) {
	n.serveStream(s, streamKind{via: ViaDirect, limiter: n.peerRate})
}

func (n *Node) handleForwardStream(s network.Stream) {
	n.serveStream(s, streamKind{via: ViaForwarded, limiter: n.forwarders})
}

// serveStream reads envelope frames until the remote closes the stream, stays idle for
// IdleTimeout, or breaks the framing. Each frame gets one ack, in order. A frame over the
// size limit, a truncated frame or a frame that is not JSON resets the stream.
func (n *Node) serveStream(s network.Stream, kind streamKind) {
	if !n.track() {
		_ = s.Reset()
		return
	}
	defer n.wg.Done()
	n.activeStreams.Add(1)
	defer n.activeStreams.Add(-1)
	remote := s.Conn().RemotePeer()
	log := n.log.With("peer", remote, "protocol", s.Protocol())
	remoteKey, err := protocol.PublicKeyFromPeerID(remote)
	if err != nil {
		log.Warn("stream reset: peer key is not Ed25519", "err", err)
		_ = s.Reset()
		return
	}
	st := &inStream{n: n, s: s, kind: kind, remote: remote, remoteKey: remoteKey.String(),
		r: bufio.NewReader(s), w: bufio.NewWriter(s)}
	if err := st.serve(); err != nil {
		log.Debug("stream reset", "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

type inStream struct {
	n         *Node
	s         network.Stream
	kind      streamKind
	remote    peer.ID
	remoteKey string
	r         *bufio.Reader
	w         *bufio.Writer
}

var errGarbageFrame = errors.New("frame is not JSON")

// serve returns nil when the remote closed the stream or it went idle, else the error that
// requires a reset.
func (st *inStream) serve() error {
	for {
		if st.n.ctx.Err() != nil {
			return st.n.ctx.Err()
		}
		_ = st.s.SetReadDeadline(time.Now().Add(st.n.cfg.IdleTimeout))
		size, err := readFrameLen(st.r, st.n.cfg.Limits.MaxBytes)
		if err != nil {
			if errors.Is(err, io.EOF) || isTimeout(err) {
				return nil
			}
			return err
		}
		if err := st.handleFrame(size); err != nil {
			return err
		}
	}
}

// handleFrame reads a frame body of size bytes, checks it and writes its ack. The body's
// memory is reserved in the stream's resource scope first, so the resource manager's limits
// bound what many concurrent streams can make the node allocate.
func (st *inStream) handleFrame(size int) error {
	scope := st.s.Scope()
	if err := scope.ReserveMemory(size, network.ReservationPriorityMedium); err != nil {
		return fmt.Errorf("reserve %d bytes for a frame: %w", size, err)
	}
	defer scope.ReleaseMemory(size)

	_ = st.s.SetReadDeadline(time.Now().Add(st.n.cfg.FrameTimeout))
	body, err := readFrameBody(st.r, size)
	if err != nil {
		return fmt.Errorf("read frame of %d bytes: %w", size, err)
	}
	a, err := st.process(body)
	if err != nil {
		return err
	}
	_ = st.s.SetWriteDeadline(time.Now().Add(st.n.cfg.FrameTimeout))
	if err := writeAck(st.w, a); err != nil {
		return fmt.Errorf("write ack: %w", err)
	}
	return nil
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// process checks one envelope frame and returns its ack, or an error for a garbage frame.
func (st *inStream) process(body []byte) (ack, error) {
	now := time.Now()
	if !st.kind.limiter.Allow(string(st.remote), now) {
		return st.reject(ack{Reason: protocol.ReasonRateLimited, Message: "peer exceeded its rate limit"}), nil
	}
	env, err := protocol.Verify(body, st.n.cfg.Limits)
	if err != nil {
		if protocol.ReasonOf(err) == protocol.ReasonMalformedJSON {
			return ack{}, fmt.Errorf("%w: %v", errGarbageFrame, err)
		}
		return st.reject(ackFor("", err)), nil
	}
	err = st.n.admit(st.n.ctx, env, Via{Kind: st.kind.via, Peer: st.remote}, st.remoteKey, now)
	if err != nil && protocol.ReasonOf(err) == "" {
		st.n.log.Warn("handler rejected an envelope", "peer", st.remote, "envelope", env.ID, "err", err)
	}
	return st.reject(ackFor(env.ID, err)), nil
}

// reject counts and logs a negative ack; it returns a unchanged.
func (st *inStream) reject(a ack) ack {
	if !a.OK {
		st.n.rejected.add(a.Reason)
		st.n.log.Debug("envelope rejected", "peer", st.remote, "protocol", st.s.Protocol(), "envelope", a.ID, "reason", a.Reason)
	}
	return a
}

// admit applies the sender check, the ingress guards and the handler to a verified envelope.
// remoteKey is the transport peer's key; it must equal `from` on the envelope protocol.
func (n *Node) admit(ctx context.Context, env *protocol.Envelope, via Via, remoteKey string, now time.Time) error {
	if via.Kind == ViaDirect && env.From != remoteKey {
		return &protocol.Error{Reason: ReasonSenderMismatch, Detail: "from is not the key of the sending peer; use " + ForwardProtocol + " to forward"}
	}
	if n.cfg.Handler == nil {
		if err := n.precheckDefault(env); err != nil {
			return err
		}
	}
	if err := n.guard.Admit(env, now); err != nil {
		return err
	}
	if err := n.handler(ctx, Inbound{Envelope: env, Via: via}); err != nil {
		// The envelope was refused, not taken, so the sender may send it again later, for
		// example to a relay once the client it is for has connected.
		n.guard.Forget(env)
		return err
	}
	return nil
}

// precheckDefault rejects, before the guards remember the ID, what the default handler would
// reject, so that a sender may retry an envelope refused as busy.
func (n *Node) precheckDefault(env *protocol.Envelope) error {
	if !env.IsRecipient(n.selfKey) {
		return &protocol.Error{Reason: ReasonNotRecipient, Detail: "this node's key is not in to"}
	}
	if len(n.inbound) == cap(n.inbound) {
		return &protocol.Error{Reason: ReasonBusy, Detail: "inbound queue is full"}
	}
	return nil
}

// deliverInbound is the default handler: it queues envelopes addressed to this node without
// blocking.
func (n *Node) deliverInbound(_ context.Context, in Inbound) error {
	if !in.Envelope.IsRecipient(n.selfKey) {
		return &protocol.Error{Reason: ReasonNotRecipient, Detail: "this node's key is not in to"}
	}
	select {
	case n.inbound <- in:
		return nil
	default:
		// NOTE: the guards already remember this ID, so a retry of the same envelope is a
		// duplicate. precheckDefault makes this rare: two streams must race for the last slot.
		return &protocol.Error{Reason: ReasonBusy, Detail: "inbound queue is full"}
	}
}
