package relaymode

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// ChallengeText returns the text signed in a register request (protocol.RegisterChallenge).
func ChallengeText(relayKey, nonce string) string {
	return protocol.RegisterChallenge(relayKey, nonce)
}

func newNonce() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return hex.EncodeToString(b)
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// inFrame is any frame a client sends; fields unused by its type are ignored.
type inFrame struct {
	Type      string          `json:"type"`
	PublicKey *string         `json:"publicKey"`
	Signature string          `json:"signature"`
	Metadata  map[string]any  `json:"metadata"`
	To        *string         `json:"to"`
	Envelope  json.RawMessage `json:"envelope"`
	ID        string          `json:"id"`
	Acks      bool            `json:"acks"`
}

func (r *Relay) upgrader() *websocket.Upgrader {
	// A 1 KiB read buffer instead of the HTTP server's 4 KiB one: an idle session keeps its read
	// buffer, and larger frames are read past it without a copy. Write buffers come from a pool
	// and are held only while a frame is written, so idle sessions hold none.
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferPool: &r.wsWriteBuffers,
		CheckOrigin:     r.originAllowed,
	}
}

// originAllowed accepts requests without an Origin header (non-browser clients) and those whose
// origin is listed in AllowedOrigins.
func (r *Relay) originAllowed(req *http.Request) bool {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range r.cfg.AllowedOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

func (r *Relay) serveWebSocket(w http.ResponseWriter, req *http.Request) {
	if !websocket.IsWebSocketUpgrade(req) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found: this port serves WebSocket clients"})
		return
	}
	ip := clientIP(req, r.cfg.TrustedProxies)
	if reason := r.conns.acquire(ip); reason != "" {
		r.metrics.ConnectionRejected(reason)
		r.log.Debug("rejected a WebSocket connection", "remote", req.RemoteAddr, "reason", reason)
		rejectConnection(w, reason)
		return
	}
	hj := &batchHijacker{ResponseWriter: w}
	conn, err := r.upgrader().Upgrade(hj, req, nil)
	if err != nil {
		r.conns.release(ip)
		r.log.Debug("WebSocket upgrade failed", "remote", req.RemoteAddr, "err", err)
		return
	}
	s := newWSSession(r, conn, hj.conn)
	s.ip = ip
	r.addWSSession(s)
	// The read loop runs in its own goroutine so that this handler returns and net/http frees
	// what it kept for the connection (its write buffer and the handler's stack).
	if !r.goTracked(s.readLoop) {
		s.end() // the relay is closing
	}
}

// wsSession is one WebSocket client. The read loop handles frames in order. Writes go through
// a bounded queue that a flush goroutine empties. That goroutine runs only while there is
// something to write (frames, presence events or a ping), so an idle session costs no
// goroutine beyond its read loop. Presence events are read from the relay's shared presence log, not queued per
// session, so a registration storm costs each session one cursor.
type wsSession struct {
	r      *Relay
	conn   *websocket.Conn
	batch  *batchConn // conn's network connection
	id     string
	nonce  string
	remote string
	ip     string // client address counted in r.conns
	opened time.Time
	// registering is set while a register frame is handled, which can wait for a turn in a
	// registration storm. The heartbeat does not close such a connection as unregistered.
	registering atomic.Bool

	mu   sync.Mutex
	key  string // set once registered
	acks bool   // the client sends ack frames for the messages it receives

	outMu       sync.Mutex
	out         []outFrame    // frames to write, oldest first, at most cfg.SendQueue
	outBytes    int           // bytes in out, at most cfg.SendQueueBytes
	writing     bool          // a flush goroutine is running
	room        chan struct{} // closed when a frame leaves the queue; nil unless deliverStored waits
	pingDue     bool          // the heartbeat requested a ping
	presCursor  uint64        // next presence event to send
	presReady   bool          // set once the registered frame is queued, so that it goes first
	presWaiting bool          // queued at the presence gate
	presToken   bool          // holds a presence gate token handed over by the gate

	done      chan struct{}
	closeOnce sync.Once
}

func newWSSession(r *Relay, conn *websocket.Conn, batch *batchConn) *wsSession {
	s := &wsSession{
		r:      r,
		conn:   conn,
		batch:  batch,
		id:     newSessionID(),
		nonce:  newNonce(),
		remote: conn.RemoteAddr().String(),
		opened: time.Now(),
		done:   make(chan struct{}),
	}
	conn.SetReadLimit(int64(r.cfg.Limits.MaxBytes) + 64<<10)
	return s
}

func (s *wsSession) ID() string   { return s.id }
func (s *wsSession) Kind() string { return "websocket" }

func (s *wsSession) Key() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// send queues a frame; a full queue means the client does not keep up, so it is cut off.
func (s *wsSession) send(v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		s.r.log.Error("encoding a frame failed", "err", err)
		return false
	}
	return s.sendEncoded(data)
}

func (s *wsSession) deliver(env *protocol.Envelope) bool {
	data, err := encodeMessage(env)
	if err != nil {
		s.r.log.Error("encoding a message frame failed", "envelope", env.ID, "err", err)
		return false
	}
	return s.sendEncoded(data)
}

// encodeMessage builds the message frame that carries env, with the envelope's own encoder.
// json.Marshal of a struct holding the envelope would scan the envelope's output once more.
func encodeMessage(env *protocol.Envelope) ([]byte, error) {
	body, err := env.MarshalJSON()
	if err != nil {
		return nil, err
	}
	from, err := json.Marshal(env.From)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, len(body)+len(from)+40)
	buf = append(buf, `{"type":"message","from":`...)
	buf = append(buf, from...)
	buf = append(buf, `,"envelope":`...)
	buf = append(buf, body...)
	return append(buf, '}'), nil
}

func (s *wsSession) close(reason string) { s.shutdown(reason) }

func (s *wsSession) drain() { s.closeAfterQueued() }

// shutdown stops both loops; the read loop unregisters the session.
func (s *wsSession) shutdown(reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		deadline := time.Now().Add(time.Second)
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, reason)
		_ = s.conn.WriteControl(websocket.CloseMessage, msg, deadline)
		_ = s.conn.Close()
	})
}

// readLoop handles frames until the connection ends. A client silent for two heartbeat
// intervals (no frame and no pong) is closed.
func (s *wsSession) readLoop() {
	defer s.end()
	timeout := 2 * s.r.cfg.HeartbeatInterval
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(timeout))
	})
	s.send(map[string]string{"type": "challenge", "nonce": s.nonce, "relayPublicKey": s.r.selfKey})
	for {
		kind, data, err := s.readFrame()
		if err != nil {
			var ce *websocket.CloseError
			if errors.Is(err, websocket.ErrReadLimit) {
				// gorilla/websocket has already sent close code 1009 (message too big).
				s.r.log.Info("closed a WebSocket client that sent an oversized frame", "session", s.id, "remote", s.remote)
			} else if !errors.As(err, &ce) {
				s.r.log.Debug("WebSocket read ended", "session", s.id, "err", err)
			}
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		if kind != websocket.TextMessage {
			s.sendError(rejection(CodeInvalidFrame, "binary frames are not supported; send JSON text frames"))
			continue
		}
		s.handle(data)
	}
}

// readBuffers hold frames while they are read, one buffer per read in progress, so idle
// sessions hold none.
var readBuffers = sync.Pool{New: func() any {
	b := make([]byte, 16<<10)
	return &b
}}

// readFrame reads the next message. gorilla/websocket's ReadMessage reads through io.ReadAll,
// which starts at 512 bytes and grows: a 4 KiB envelope costs several allocations, copies and
// read system calls. Here most frames take one read into a pooled buffer and one copy into a
// slice of their size.
func (s *wsSession) readFrame() (int, []byte, error) {
	kind, r, err := s.conn.NextReader()
	if err != nil {
		return kind, nil, err
	}
	bp := readBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return kind, nil, err
		}
	}
	data := bytes.Clone(buf)
	if cap(buf) <= 64<<10 {
		*bp = buf[:0]
		readBuffers.Put(bp)
	}
	return kind, data, nil
}

func (s *wsSession) end() {
	s.shutdown("connection closed")
	s.r.removeWSSession(s)
	s.r.conns.release(s.ip)
	s.r.presence.unsubscribe(s)
	if s.Key() != "" {
		s.r.unregister(s)
	}
}

func (s *wsSession) sendError(e *relayError) {
	frame := map[string]string{"type": "error", "message": e.message, "code": e.code}
	if e.reason != "" {
		frame["reason"] = string(e.reason)
	}
	if e.id != "" {
		frame["id"] = e.id
	}
	s.send(frame)
}
