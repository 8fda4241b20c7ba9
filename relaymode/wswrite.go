package relaymode

import (
	"errors"
	"os"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// presenceBatch is how many presence events a session writes per turn at the presence gate.
const presenceBatch = 16

// presenceWriteTimeout bounds one turn's write of presence events.
const presenceWriteTimeout = 5 * time.Second

// outFrame is a queued frame. A frame without data closes the connection. storedID names the
// stored envelope that the frame carries, so that it can be deleted once delivered.
type outFrame struct {
	data     []byte
	storedID string
}

// sendEncoded queues the JSON text of a frame. A full queue means that the client does not
// keep up, so it is cut off.
func (s *wsSession) sendEncoded(data []byte) bool {
	s.outMu.Lock()
	if s.isDone() {
		s.outMu.Unlock()
		return false
	}
	if s.queueFullLocked(len(data)) {
		s.outMu.Unlock()
		s.cutSlow("send queue full")
		return false
	}
	s.pushLocked(outFrame{data: data})
	s.outMu.Unlock()
	return true
}

// cutSlow closes a session that does not read its frames fast enough.
func (s *wsSession) cutSlow(reason string) {
	s.r.metrics.SlowConsumer()
	s.r.log.Warn("closing a slow WebSocket client", "reason", reason,
		"session", s.id, "key", s.Key(), "remote", s.remote)
	s.shutdown(reason)
}

// presencePendingLocked reports whether presence events are left to read.
func (s *wsSession) presencePendingLocked() bool {
	return s.presReady && s.presCursor < s.r.presence.head()
}

// deliverStored queues a stored envelope, waiting for room in the queue instead of cutting the
// client off, and reports whether it was queued before the session ended.
func (s *wsSession) deliverStored(env *protocol.Envelope) bool {
	data, err := encodeMessage(env)
	if err != nil {
		return false
	}
	s.outMu.Lock()
	for s.queueFullLocked(len(data)) && !s.isDone() {
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.outMu.Unlock()
		select {
		case <-room:
		case <-s.done:
		}
		s.outMu.Lock()
	}
	defer s.outMu.Unlock()
	if s.isDone() {
		return false
	}
	s.pushLocked(outFrame{data: data, storedID: env.ID})
	return true
}

// closeAfterQueued closes the connection once the frames queued so far are written, so that a
// final error frame reaches the client.
func (s *wsSession) closeAfterQueued() {
	s.outMu.Lock()
	if len(s.out) >= s.r.cfg.SendQueue {
		s.outMu.Unlock()
		s.shutdown("send queue full")
		return
	}
	s.pushLocked(outFrame{})
	s.outMu.Unlock()
}

// startPresence lets presence events flow from cursor on, after the registered frame, whose
// peer list reflects the events before cursor.
func (s *wsSession) startPresence(cursor uint64) {
	s.outMu.Lock()
	s.presReady = true
	s.presCursor = cursor
	s.outMu.Unlock()
	s.r.presence.subscribe(s)
	s.wakePresence(s.r.presence.head())
}

// wakePresence starts the flush goroutine when events before head are unread.
func (s *wsSession) wakePresence(head uint64) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.presReady && s.presCursor < head && !s.presWaiting && !s.isDone() {
		s.startFlushLocked()
	}
}

// requestPing makes the flush goroutine send a WebSocket ping.
func (s *wsSession) requestPing() {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if !s.isDone() {
		s.pingDue = true
		s.startFlushLocked()
	}
}

func (s *wsSession) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// queueFullLocked reports whether a frame of n bytes would take the queue past its bounds. An
// empty queue takes a frame of any size, such as a registered frame listing many peers.
func (s *wsSession) queueFullLocked(n int) bool {
	return len(s.out) >= s.r.cfg.SendQueue || (len(s.out) > 0 && s.outBytes+n > s.r.cfg.SendQueueBytes)
}

func (s *wsSession) pushLocked(f outFrame) {
	s.out = append(s.out, f)
	s.outBytes += len(f.data)
	s.startFlushLocked()
}

func (s *wsSession) startFlushLocked() {
	if !s.writing {
		s.writing = true
		s.r.goTracked(s.flush)
	}
}

// flush writes a due ping, then queued frames, then pending presence events, and returns
// when nothing is left or a write fails. After a failed write the session is shut down and
// writing stays set, so no new flush starts.
func (s *wsSession) flush() {
	s.batch.hold()
	defer s.batch.release()
	for {
		s.outMu.Lock()
		switch {
		case s.pingDue:
			s.pingDue = false
			s.outMu.Unlock()
			if !s.ping() {
				return
			}
		case len(s.out) > 0:
			f := s.popLocked()
			s.outMu.Unlock()
			if !s.writeFrame(f) {
				return
			}
		case !s.presencePendingLocked():
			s.writing = false
			token := s.presToken
			s.presToken = false
			s.outMu.Unlock()
			if token {
				s.r.presGate.leave()
			}
			return
		case s.presWaiting:
			// Queued at the presence gate, which starts a flush again in turn.
			s.writing = false
			s.outMu.Unlock()
			return
		case !s.presToken && !s.r.presGate.enter(s):
			// Queued behind other sessions; the gate starts a flush again in turn.
			s.writing = false
			s.outMu.Unlock()
			return
		default:
			s.presToken = false
			if !s.writePresence() {
				return
			}
		}
	}
}

// writePresence writes one batch of presence events. It is called with outMu held and a
// presence gate token, which it passes on; it returns with outMu released.
func (s *wsSession) writePresence() bool {
	defer s.r.presGate.leave()
	frames, ok := s.takePresenceLocked(presenceBatch)
	s.outMu.Unlock()
	if !ok {
		s.cutSlow("presence backlog")
		return false
	}
	for _, data := range frames {
		if !s.write(data) {
			return false
		}
	}
	// The frames leave here. A client that takes none of them for presenceWriteTimeout has
	// stopped reading; it is cut off, so that it cannot keep the gate token.
	_ = s.batch.SetWriteDeadline(time.Now().Add(presenceWriteTimeout))
	if err := s.batch.flush(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.cutSlow("presence write timed out")
		} else {
			s.r.log.Debug("WebSocket write failed", "session", s.id, "err", err)
			s.shutdown("write failed")
		}
		return false
	}
	return true
}

// resumePresence hands s a presence gate token and starts its flush.
func (s *wsSession) resumePresence() {
	s.outMu.Lock()
	s.presWaiting = false
	if s.isDone() {
		s.outMu.Unlock()
		s.r.presGate.leave()
		return
	}
	s.presToken = true
	s.startFlushLocked()
	s.outMu.Unlock()
}

// popLocked removes the oldest queued frame and wakes a deliverStored waiting for room.
func (s *wsSession) popLocked() outFrame {
	f := s.out[0]
	s.outBytes -= len(f.data)
	s.out[0] = outFrame{}
	s.out = s.out[1:]
	if len(s.out) == 0 {
		s.out = nil // release the backing array of a burst
	}
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
	return f
}

// takePresenceLocked reads up to n presence events and returns their frames, leaving out
// events of the session's own key. ok is false when the session fell so far behind that the
// log dropped events it had not read.
func (s *wsSession) takePresenceLocked(n int) (frames [][]byte, ok bool) {
	if !s.presReady {
		return nil, true
	}
	events, next, ok := s.r.presence.read(s.presCursor, n)
	if !ok {
		return nil, false
	}
	s.presCursor = next
	own := s.Key()
	for _, e := range events {
		if e.key != own {
			frames = append(frames, encodePresence(e))
		}
	}
	return frames, true
}

// encodePresence builds a peer_online or peer_offline frame. Keys of registered sessions are
// lowercase SPKI hex, so they need no escaping.
func encodePresence(e presenceEvent) []byte {
	buf := make([]byte, 0, 48+len(e.key))
	if e.online {
		buf = append(buf, `{"type":"peer_online","publicKey":"`...)
	} else {
		buf = append(buf, `{"type":"peer_offline","publicKey":"`...)
	}
	buf = append(buf, e.key...)
	return append(buf, `"}`...)
}

func (s *wsSession) ping() bool {
	deadline := time.Now().Add(s.r.cfg.HeartbeatInterval)
	if err := s.conn.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
		s.shutdown("ping failed")
		return false
	}
	return true
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

// addWSSession and removeWSSession track every WebSocket session, registered or not, for the
// heartbeat.
func (r *Relay) addWSSession(s *wsSession) {
	r.wsMu.Lock()
	r.wsSessions[s] = struct{}{}
	r.wsMu.Unlock()
}

func (r *Relay) removeWSSession(s *wsSession) {
	r.wsMu.Lock()
	delete(r.wsSessions, s)
	r.wsMu.Unlock()
}

// heartbeat pings every WebSocket session once per HeartbeatInterval. A session that sends
// nothing, not even a pong, for two intervals is closed by its read deadline. A connection
// that has not registered one interval after it opened is closed, so that connections which
// respond to pings but never register cannot hold connection slots.
func (r *Relay) heartbeat() {
	t := time.NewTicker(r.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, s := range r.allWSSessions() {
			ws := s.(*wsSession)
			if ws.Key() == "" && !ws.registering.Load() && now.Sub(ws.opened) >= r.cfg.HeartbeatInterval {
				ws.sendError(rejection(CodeNotRegistered, "register within %s of connecting", r.cfg.HeartbeatInterval))
				ws.closeAfterQueued()
				continue
			}
			ws.requestPing()
		}
	}
}

// allWSSessions returns every WebSocket session, registered or not.
func (r *Relay) allWSSessions() []session {
	r.wsMu.Lock()
	defer r.wsMu.Unlock()
	sessions := make([]session, 0, len(r.wsSessions))
	for s := range r.wsSessions {
		sessions = append(sessions, s)
	}
	return sessions
}
