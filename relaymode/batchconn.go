package relaymode

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// batchLimit is how many bytes batchConn collects before it writes them out anyway.
const batchLimit = 32 << 10

// batchBuffers start small, so that the many sessions flushing at once in a registration
// storm, each with a few presence frames, hold little memory.
var batchBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// batchConn is the network connection under a WebSocket session. While the session's flush
// goroutine holds it, the frames that gorilla/websocket writes are collected and leave in one
// write system call instead of one call per frame. A presence storm or a burst of messages
// thus costs a fraction of the system calls. gorilla/websocket has no option for this: it writes
// every frame to the connection when the frame is complete.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	holding bool
	buf     []byte // from batchBuffers while holding, else nil
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= batchLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold starts collecting writes.
func (c *batchConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		c.holding = true
		c.buf = (*batchBuffers.Get().(*[]byte))[:0]
	}
}

// flush writes out what was collected and goes on collecting.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// release writes out what was collected and stops collecting.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding {
		return nil
	}
	err := c.flushLocked()
	c.holding = false
	if cap(c.buf) <= 2*batchLimit {
		b := c.buf[:0]
		batchBuffers.Put(&b)
	}
	c.buf = nil
	return err
}

func (c *batchConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// Close writes out what was collected, such as a close frame, and closes the connection.
// When a write is blocked on a client that does not read, Close closes the connection at once,
// which ends that write.
func (c *batchConn) Close() error {
	if !c.mu.TryLock() {
		return c.Conn.Close()
	}
	flushErr := c.flushLocked()
	c.mu.Unlock()
	return errors.Join(c.Conn.Close(), flushErr)
}

// batchHijacker hands gorilla/websocket a batchConn when it takes over the connection.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the HTTP server does not support taking over connections")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, brw, nil
}
