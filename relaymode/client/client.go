// Package client is a Go client of the agora relay's WebSocket door. It signs the relay's
// challenge, registers, sends envelopes and waits for the relay's verdict on each, and receives
// messages, acking each one so that a relay with a store deletes it.
package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// Message is an envelope received from the relay, already verified by this client.
type Message struct {
	From     string
	Envelope *protocol.Envelope
}

// Event is a frame the client does not handle itself, such as peer_online and peer_offline.
type Event struct {
	Type      string `json:"type"`
	PublicKey string `json:"publicKey"`
}

// Error is a refusal from the relay.
type Error struct {
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	ID      string `json:"id"`
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("relay refused %s: %s (%s): %s", e.ID, e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("relay refused: %s: %s", e.Code, e.Message)
}

// Options configure Dial.
type Options struct {
	// Metadata is sent with register, as the earlier relay accepts it.
	Metadata map[string]any
	// NoAck turns off ack frames, for tests of clients that do not send them.
	NoAck bool
	// Header is sent with the WebSocket handshake.
	Header http.Header
	Dialer *websocket.Dialer
}

// Client is one registered WebSocket session.
type Client struct {
	conn     *websocket.Conn
	key      *protocol.KeyPair
	relayKey string
	peers    []string
	opts     Options

	writeMu sync.Mutex

	mu      sync.Mutex
	waiting map[string]chan result // envelope ID → verdict
	lastErr *Error                 // last refusal without an ID

	messages chan Message
	events   chan Event
	done     chan struct{}
	err      error
}

type result struct {
	kind string // delivered or stored
	err  *Error
}

// Dial connects to url, signs the relay's challenge with key and registers.
func Dial(ctx context.Context, url string, key *protocol.KeyPair, opts *Options) (*Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	dialer := opts.Dialer
	if dialer == nil {
		dialer = websocket.DefaultDialer
	}
	conn, _, err := dialer.DialContext(ctx, url, opts.Header)
	if err != nil {
		return nil, fmt.Errorf("dial relay %s: %w", url, err)
	}
	c := &Client{conn: conn, key: key, opts: *opts, waiting: make(map[string]chan result),
		messages: make(chan Message, 256), events: make(chan Event, 256), done: make(chan struct{})}
	if err := c.register(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

func (c *Client) register(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.conn.SetReadDeadline(deadline)
		defer c.conn.SetReadDeadline(time.Time{})
	}
	var challenge struct {
		Type           string `json:"type"`
		Nonce          string `json:"nonce"`
		RelayPublicKey string `json:"relayPublicKey"`
	}
	if err := c.conn.ReadJSON(&challenge); err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if challenge.Type != "challenge" {
		return fmt.Errorf("relay sent %q before a challenge; it may not support proof of possession", challenge.Type)
	}
	c.relayKey = challenge.RelayPublicKey
	sig := c.key.Sign([]byte(protocol.RegisterChallenge(challenge.RelayPublicKey, challenge.Nonce)))
	frame := map[string]any{"type": "register", "publicKey": c.key.PublicKey().String(),
		"signature": hex.EncodeToString(sig), "acks": !c.opts.NoAck}
	if c.opts.Metadata != nil {
		frame["metadata"] = c.opts.Metadata
	}
	if err := c.conn.WriteJSON(frame); err != nil {
		return fmt.Errorf("send register: %w", err)
	}
	var reply struct {
		Type  string `json:"type"`
		Peers []struct {
			PublicKey string `json:"publicKey"`
		} `json:"peers"`
		Error
	}
	if err := c.conn.ReadJSON(&reply); err != nil {
		return fmt.Errorf("read registration reply: %w", err)
	}
	if reply.Type == "error" {
		return &reply.Error
	}
	if reply.Type != "registered" {
		return fmt.Errorf("unexpected reply %q to register", reply.Type)
	}
	for _, p := range reply.Peers {
		c.peers = append(c.peers, p.PublicKey)
	}
	return nil
}

// RelayKey returns the relay's public key, from its challenge.
func (c *Client) RelayKey() string { return c.relayKey }

// Peers returns the peer list of the registered frame.
func (c *Client) Peers() []string { return c.peers }

// Messages returns the channel of received messages; it closes when the connection ends.
// Read it steadily: while it is full, the client reads no further frames from the relay.
func (c *Client) Messages() <-chan Message { return c.messages }

// Events returns presence and other frames. While the channel is full, new ones are dropped.
// It closes when the connection ends.
func (c *Client) Events() <-chan Event { return c.events }

// Send signs an envelope for to and waits until the relay delivered or stored it. It returns
// the envelope ID and "delivered" or "stored".
func (c *Client) Send(ctx context.Context, to string, typ string, payload any, opts *protocol.CreateOptions) (string, string, error) {
	env, err := protocol.CreateEnvelope(c.key, typ, []string{to}, payload, opts)
	if err != nil {
		return "", "", err
	}
	kind, err := c.SendEnvelope(ctx, to, env)
	return env.ID, kind, err
}

// SendEnvelope sends a signed envelope for to and waits for the relay's verdict.
func (c *Client) SendEnvelope(ctx context.Context, to string, env *protocol.Envelope) (string, error) {
	ch := make(chan result, 1)
	c.mu.Lock()
	if _, busy := c.waiting[env.ID]; busy {
		c.mu.Unlock()
		return "", fmt.Errorf("envelope %s is already waiting for the relay's verdict; send it once", env.ID)
	}
	c.waiting[env.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, env.ID)
		c.mu.Unlock()
	}()
	if err := c.write(map[string]any{"type": "message", "to": to, "envelope": env}); err != nil {
		return "", err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return "", r.err
		}
		return r.kind, nil
	case <-c.done:
		return "", fmt.Errorf("connection closed before the relay answered: %w", c.err)
	case <-ctx.Done():
		return "", fmt.Errorf("timed out waiting for the relay's verdict on %s: %w", env.ID, ctx.Err())
	}
}

// WriteRaw sends any frame, for tests of hostile input.
func (c *Client) WriteRaw(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, data)
}

func (c *Client) write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.WriteRaw(data)
}

// Close ends the session.
func (c *Client) Close() error {
	c.writeMu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	err := c.conn.Close()
	<-c.done
	return err
}

func (c *Client) readLoop() {
	defer close(c.events)
	defer close(c.messages)
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		c.handle(data)
	}
}

type inFrame struct {
	Type     string          `json:"type"`
	From     string          `json:"from"`
	ID       string          `json:"id"`
	Envelope json.RawMessage `json:"envelope"`
	Error
	Event
}

func (c *Client) handle(data []byte) {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return
	}
	switch f.Type {
	case "message":
		env, err := protocol.Verify(f.Envelope, protocol.DefaultLimits())
		if err != nil {
			return // a relay must not pass on invalid envelopes; drop it
		}
		c.messages <- Message{From: f.From, Envelope: env}
		if !c.opts.NoAck {
			_ = c.write(map[string]string{"type": "ack", "id": env.ID})
		}
	case "delivered", "stored":
		c.resolve(f.ID, result{kind: f.Type})
	case "error":
		e := f.Error
		e.ID = f.ID
		if !c.resolve(f.ID, result{err: &e}) {
			c.mu.Lock()
			c.lastErr = &e
			c.mu.Unlock()
		}
	default:
		ev := Event{Type: f.Type, PublicKey: f.Event.PublicKey}
		select {
		case c.events <- ev:
		default:
		}
	}
}

func (c *Client) resolve(id string, r result) bool {
	if id == "" {
		return false
	}
	c.mu.Lock()
	ch, ok := c.waiting[id]
	c.mu.Unlock()
	if ok {
		ch <- r
	}
	return ok
}

// LastError returns the last refusal that named no envelope, such as an invalid frame.
func (c *Client) LastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr == nil {
		return nil
	}
	return c.lastErr
}
