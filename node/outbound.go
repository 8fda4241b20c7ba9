package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"
)

// errStreamBroken marks a delivery whose stream failed before its ack arrived; the envelope
// may or may not have been processed.
var errStreamBroken = errors.New("stream failed before the ack")

// outbound keeps one pipelined stream per peer and protocol.
type outbound struct {
	n       *Node
	mu      sync.Mutex
	streams map[outKey]*outStream
	closed  bool
}

type outKey struct {
	peer  peer.ID
	proto libp2pprotocol.ID
}

func newOutbound(n *Node) *outbound {
	return &outbound{n: n, streams: make(map[outKey]*outStream)}
}

// outStream carries many envelope frames; acks come back in frame order and are matched to
// the pending queue by position.
type outStream struct {
	o       *outbound
	key     outKey
	ready   chan struct{} // closed once s is set or openErr is
	openErr error

	s       network.Stream
	r       *bufio.Reader
	w       *bufio.Writer
	writeMu sync.Mutex
	slots   chan struct{}    // window of frames in flight
	pending chan *pendingAck // capacity = window, so a push never blocks
	dead    atomic.Bool      // set once; no frame is written after
	done    chan struct{}    // closed with dead
	once    sync.Once
	err     error
}

type pendingAck struct {
	id     string
	result chan error // buffered, receives exactly one value
}

// get returns the open stream to key, opening one when there is none.
func (o *outbound) get(ctx context.Context, key outKey) (*outStream, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, ErrClosed
	}
	st, ok := o.streams[key]
	if ok && !st.dead.Load() {
		o.mu.Unlock()
		return st.wait(ctx)
	}
	st = &outStream{o: o, key: key, ready: make(chan struct{}), done: make(chan struct{})}
	o.streams[key] = st
	o.mu.Unlock()

	// The dial serves every caller waiting for this stream, so it runs on the node's context
	// rather than on the first caller's.
	openCtx, cancel := context.WithTimeout(o.n.ctx, o.n.cfg.DialTimeout)
	st.openErr = st.open(openCtx)
	cancel()
	if st.openErr != nil {
		st.fail(st.openErr)
	}
	close(st.ready)
	return st.wait(ctx)
}

func (st *outStream) wait(ctx context.Context) (*outStream, error) {
	select {
	case <-st.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if st.openErr != nil {
		return nil, st.openErr
	}
	return st, nil
}

func (st *outStream) open(ctx context.Context) error {
	n := st.o.n
	if err := n.ensureConnected(ctx, st.key.peer); err != nil {
		return err
	}
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "agora"), st.key.peer, st.key.proto)
	if err != nil {
		return fmt.Errorf("open %s stream to %s: %w", st.key.proto, st.key.peer, err)
	}
	st.s = s
	st.r = bufio.NewReader(s)
	st.w = bufio.NewWriterSize(s, 64<<10)
	st.slots = make(chan struct{}, n.cfg.Window)
	st.pending = make(chan *pendingAck, n.cfg.Window)
	if !n.goTracked(st.readAcks) {
		_ = s.Reset()
		return ErrClosed
	}
	return nil
}

// send writes one frame and waits for its ack.
func (st *outStream) send(ctx context.Context, id string, frame []byte) error {
	select {
	case st.slots <- struct{}{}:
	case <-st.done:
		return fmt.Errorf("%w: %v", errStreamBroken, st.err)
	case <-ctx.Done():
		return ctx.Err()
	}
	p := &pendingAck{id: id, result: make(chan error, 1)}
	if err := st.write(p, frame); err != nil {
		<-st.slots
		return err
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		// The ack reader still consumes this frame's ack and frees its slot.
		return ctx.Err()
	}
}

func (st *outStream) write(p *pendingAck, frame []byte) error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if st.dead.Load() {
		return fmt.Errorf("%w: %v", errStreamBroken, st.err)
	}
	_ = st.s.SetWriteDeadline(time.Now().Add(st.o.n.cfg.FrameTimeout))
	err := writeFrame(st.w, frame)
	if err == nil {
		err = st.w.Flush()
	}
	if err != nil {
		err = fmt.Errorf("%w: write frame: %v", errStreamBroken, err)
		st.fail(err)
		return err
	}
	st.pending <- p
	return nil
}

// readAcks matches acks to pending frames in order. It closes the stream after it has been
// idle for half the receiver's default idle timeout, before the receiver would.
func (st *outStream) readAcks() {
	n := st.o.n
	idleAfter := n.cfg.IdleTimeout / 2
	idle := time.NewTimer(idleAfter)
	defer idle.Stop()
	defer st.drain()
	for {
		var p *pendingAck
		select {
		case p = <-st.pending:
		case <-idle.C:
			if st.closeIfIdle() {
				return
			}
			idle.Reset(idleAfter)
			continue
		case <-st.done:
			return
		case <-n.ctx.Done():
			st.fail(ErrClosed)
			return
		}
		_ = st.s.SetReadDeadline(time.Now().Add(n.cfg.AckTimeout))
		a, err := readAck(st.r)
		if err == nil && a.ID != "" && a.ID != p.id {
			err = fmt.Errorf("ack for %s arrived in the place of %s", a.ID, p.id)
		}
		if err != nil {
			err = fmt.Errorf("%w: read ack: %v", errStreamBroken, err)
			p.result <- err
			<-st.slots
			st.fail(err)
			return
		}
		p.result <- a.err()
		<-st.slots
		idle.Reset(idleAfter)
	}
}

// closeIfIdle closes the stream when no frame is in flight.
func (st *outStream) closeIfIdle() bool {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if len(st.pending) > 0 || len(st.slots) > 0 {
		return false
	}
	st.markDead(errors.New("closed after being idle"))
	_ = st.s.Close()
	return true
}

// fail marks the stream dead and resets it, which also unblocks a writer in progress.
func (st *outStream) fail(err error) {
	if st.markDead(err) && st.s != nil {
		_ = st.s.Reset()
	}
}

func (st *outStream) markDead(err error) bool {
	first := false
	st.once.Do(func() {
		first = true
		st.err = err
		st.dead.Store(true)
		close(st.done)
		st.o.remove(st)
	})
	return first
}

// drain fails the frames still waiting for an ack. Holding writeMu guarantees that no writer
// adds a frame after the drain, because writers check dead under it.
func (st *outStream) drain() {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	for {
		select {
		case p := <-st.pending:
			p.result <- fmt.Errorf("%w: %v", errStreamBroken, st.err)
			<-st.slots
		default:
			return
		}
	}
}

func (o *outbound) remove(st *outStream) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.streams[st.key] == st {
		delete(o.streams, st.key)
	}
}

// closeAll resets every stream; their ack readers then return.
func (o *outbound) closeAll() {
	o.mu.Lock()
	o.closed = true
	streams := make([]*outStream, 0, len(o.streams))
	for _, st := range o.streams {
		streams = append(streams, st)
	}
	o.mu.Unlock()
	for _, st := range streams {
		select {
		case <-st.ready:
			st.fail(ErrClosed)
		default:
			// Still opening: open finds the node closed and fails on its own.
		}
	}
}
