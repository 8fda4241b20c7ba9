// Package relaybench drives a running agora relay over its WebSocket door and measures it from
// outside: throughput and latency of sender/receiver pairs, the relay process's CPU time per
// message, its memory per idle connection, and a registration storm with traffic flowing.
//
// The load clients are lean on purpose: envelopes are signed before the clock starts and
// receivers do not verify what they get, so that the machine's CPU goes to the relay. A
// production client verifies every envelope it receives (relaymode/client does).
package relaybench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// Target is the relay under test.
type Target struct {
	// URL is the relay's WebSocket address, such as ws://127.0.0.1:9470.
	URL string
	// PID is the relay's process ID on this machine. With 0, server CPU and memory figures
	// are left out.
	PID int
}

// session is one registered WebSocket connection of the load tool.
type session struct {
	conn *websocket.Conn
	key  *protocol.KeyPair
}

var dialer = &websocket.Dialer{
	HandshakeTimeout: 30 * time.Second,
	ReadBufferSize:   16 << 10,
	WriteBufferSize:  16 << 10,
}

// register dials the relay, signs its challenge and registers key.
func register(ctx context.Context, url string, key *protocol.KeyPair) (*session, error) {
	conn, resp, err := dialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial relay %s: %w%s", url, err, refusal(resp))
	}
	s := &session{conn: conn, key: key}
	if err := s.handshake(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) handshake(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetReadDeadline(deadline)
	defer s.conn.SetReadDeadline(time.Time{})
	var challenge struct {
		Type           string `json:"type"`
		Nonce          string `json:"nonce"`
		RelayPublicKey string `json:"relayPublicKey"`
	}
	if err := s.conn.ReadJSON(&challenge); err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if challenge.Type != "challenge" {
		return fmt.Errorf("relay sent %q before a challenge; relaybench needs a relay with proof of possession", challenge.Type)
	}
	sig := s.key.Sign([]byte(protocol.RegisterChallenge(challenge.RelayPublicKey, challenge.Nonce)))
	frame := map[string]any{"type": "register", "publicKey": s.publicKey(), "signature": hex.EncodeToString(sig)}
	if err := s.conn.WriteJSON(frame); err != nil {
		return fmt.Errorf("send register: %w", err)
	}
	// Presence frames of other sessions may arrive before the reply.
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("read registration reply: %w", err)
		}
		// The registered frame lists every connected key. With thousands of sessions, decoding
		// it in full would cost the load tool more than the relay spends on the registration.
		if bytes.HasPrefix(data, []byte(`{"type":"registered"`)) {
			return nil
		}
		var reply struct {
			Type    string `json:"type"`
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(data, &reply); err != nil {
			return fmt.Errorf("read registration reply: %w", err)
		}
		switch reply.Type {
		case "registered":
			return nil
		case "error":
			return fmt.Errorf("relay rejected registration: %s: %s", reply.Code, reply.Message)
		}
	}
}

func (s *session) publicKey() string { return s.key.PublicKey().String() }

// drain reads and discards the connection's bytes until it ends. It does not parse frames, so
// that thousands of sessions receiving presence events cost the load tool little CPU.
func (s *session) drain() {
	buf := make([]byte, 4096)
	nc := s.conn.NetConn()
	for {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}

func (s *session) close() {
	_ = s.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = s.conn.Close()
}

// messageFrame returns the frame that sends env to its first recipient.
func messageFrame(env *protocol.Envelope) ([]byte, error) {
	return json.Marshal(map[string]any{"type": "message", "to": env.To[0], "envelope": env})
}

// refusal describes the HTTP response to a rejected upgrade, such as the relay's 429 when its
// per-IP connection limit is reached, or returns "" when there is none.
func refusal(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Sprintf(" (HTTP %s: %s)", resp.Status, bytes.TrimSpace(body))
}
