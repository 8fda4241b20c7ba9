package relaymode

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
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
	return &websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
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
	conn, err := r.upgrader().Upgrade(w, req, nil)
	if err != nil {
		r.log.Debug("WebSocket upgrade failed", "remote", req.RemoteAddr, "err", err)
		return
	}
	s := newWSSession(r, conn)
	r.goTracked(s.writeLoop)
	s.readLoop()
}

// wsSession is one WebSocket client. The read loop handles frames in order; the write loop
// sends queued frames, presence updates and pings. Presence updates are kept apart from the
// frame queue and merged per key, so a registration storm costs each session at most one
// pending update per key and never cuts it off.
type wsSession struct {
	r      *Relay
	conn   *websocket.Conn
	id     string
	nonce  string
	remote string

	mu    sync.Mutex
	key   string // set once registered
	acks  bool   // the client sends ack frames for the messages it receives
	queue chan outFrame

	presMu      sync.Mutex
	presPending map[string]string // key → peer_online or peer_offline
	presOrder   []string
	presWake    chan struct{}
	presReady   bool // set once the registered frame is queued, so that it goes first

	done      chan struct{}
	closeOnce sync.Once
}

func newWSSession(r *Relay, conn *websocket.Conn) *wsSession {
	s := &wsSession{
		r:           r,
		conn:        conn,
		id:          newSessionID(),
		nonce:       newNonce(),
		remote:      conn.RemoteAddr().String(),
		queue:       make(chan outFrame, r.cfg.SendQueue),
		presPending: make(map[string]string),
		presWake:    make(chan struct{}, 1),
		done:        make(chan struct{}),
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

// sendEncoded queues the JSON text of a frame, as send does.
func (s *wsSession) sendEncoded(data []byte) bool {
	select {
	case s.queue <- outFrame{data: data}:
		return true
	case <-s.done:
		return false
	default:
		s.r.metrics.SlowConsumer()
		s.r.log.Warn("closing a slow WebSocket client: its send queue is full",
			"session", s.id, "key", s.Key(), "remote", s.remote, "queue", cap(s.queue))
		s.shutdown("send queue full")
		return false
	}
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

func (s *wsSession) presence(event, key string) {
	s.presMu.Lock()
	if _, pending := s.presPending[key]; !pending {
		s.presOrder = append(s.presOrder, key)
	}
	s.presPending[key] = event
	s.presMu.Unlock()
	select {
	case s.presWake <- struct{}{}:
	default:
	}
}

// takePresence removes up to max pending presence updates, oldest key first.
func (s *wsSession) takePresence(max int) [][]byte {
	s.presMu.Lock()
	defer s.presMu.Unlock()
	if !s.presReady {
		return nil
	}
	n := min(max, len(s.presOrder))
	frames := make([][]byte, 0, n)
	for _, key := range s.presOrder[:n] {
		data, _ := json.Marshal(map[string]string{"type": s.presPending[key], "publicKey": key})
		frames = append(frames, data)
		delete(s.presPending, key)
	}
	s.presOrder = s.presOrder[n:]
	if len(s.presOrder) > 0 {
		select {
		case s.presWake <- struct{}{}:
		default:
		}
	}
	return frames
}

func (s *wsSession) close(reason string) { s.shutdown(reason) }

func (s *wsSession) drain() { s.closeAfterQueued() }

// startPresence lets presence updates flow, after the registered frame.
func (s *wsSession) startPresence() {
	s.presMu.Lock()
	s.presReady = true
	s.presMu.Unlock()
	s.wakePresence()
}

// wakePresence signals the write loop that presence updates are pending, without blocking.
func (s *wsSession) wakePresence() {
	select {
	case s.presWake <- struct{}{}:
	default:
	}
}

// closeAfterQueued closes the connection once the frames queued so far are written, so that a
// final error frame reaches the client.
func (s *wsSession) closeAfterQueued() {
	select {
	case s.queue <- outFrame{}:
	default:
		s.shutdown("send queue full")
	}
}

// outFrame is a queued frame. A frame without data closes the connection. storedID names the
// stored envelope that the frame carries, so that it can be deleted once delivered.
type outFrame struct {
	data     []byte
	storedID string
}

// deliverStored queues a stored envelope, waiting for room in the queue instead of cutting the
// client off, and reports whether it was queued before the session ended.
func (s *wsSession) deliverStored(env *protocol.Envelope) bool {
	data, err := encodeMessage(env)
	if err != nil {
		return false
	}
	select {
	case s.queue <- outFrame{data: data, storedID: env.ID}:
		return true
	case <-s.done:
		return false
	}
}

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

// writeLoop sends queued frames before presence updates, and pings on every heartbeat.
func (s *wsSession) writeLoop() {
	ping := time.NewTicker(s.r.cfg.HeartbeatInterval)
	defer ping.Stop()
	for {
		select {
		case f := <-s.queue:
			if !s.writeFrame(f) {
				return
			}
			continue
		default:
		}
		select {
		case <-s.done:
			return
		case f := <-s.queue:
			if !s.writeFrame(f) {
				return
			}
		case <-s.presWake:
			if len(s.queue) > 0 {
				// Frames queued before the presence update go first.
				s.wakePresence()
				continue
			}
			for _, data := range s.takePresence(64) {
				if !s.write(data) {
					return
				}
			}
		case <-ping.C:
			deadline := time.Now().Add(s.r.cfg.HeartbeatInterval)
			if err := s.conn.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
				s.shutdown("ping failed")
				return
			}
		}
	}
}

// writeFrame writes a queued frame. A stored envelope is deleted from the store once written,
// unless the client sends acks, in which case its ack deletes it.
func (s *wsSession) writeFrame(f outFrame) bool {
	if f.data == nil {
		s.shutdown("closed by the relay")
		return false
	}
	if !s.write(f.data) {
		return false
	}
	if f.storedID != "" && !s.acks {
		s.r.deleteStored(s.Key(), f.storedID)
	}
	return true
}

func (s *wsSession) write(data []byte) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.r.cfg.HeartbeatInterval))
	if err := s.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		s.r.log.Debug("WebSocket write failed", "session", s.id, "err", err)
		s.shutdown("write failed")
		return false
	}
	return true
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
		kind, data, err := s.conn.ReadMessage()
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

func (s *wsSession) end() {
	s.shutdown("connection closed")
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
