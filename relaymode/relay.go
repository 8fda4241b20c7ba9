// Package relaymode runs an agora node in relay mode: a WebSocket door and a REST/JWT door for
// clients that cannot join the libp2p mesh. Every envelope a client sends is verified and
// checked by the ingress guards, then routed to the recipient's sessions on either door, to a
// mesh peer over the node's forward protocol, or into the store for an offline storage peer.
// Mesh peers reach front-door clients by sending envelopes to the relay node.
package relaymode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

// Relay is a node in relay mode.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	node    *node.Node
	key     *protocol.KeyPair
	selfKey string
	guard   *protocol.Guard
	metrics Metrics
	sampler *logSampler // limits repeated rejection and authentication log lines

	mu       sync.RWMutex
	peers    map[string]*peerEntry // by public key (SPKI hex)
	presence *presenceLog          // appended with mu held
	presGate *presenceGate

	registerSlots chan struct{} // WebSocket registrations in progress

	conns          *connLimits
	wsMu           sync.Mutex
	wsSessions     map[*wsSession]struct{} // every WebSocket session, for the heartbeat
	wsWriteBuffers sync.Pool               // write buffers of gorilla/websocket connections

	rest    *restDoor // nil when REST is off
	servers []*http.Server
	wsURL   string
	restURL string

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	trackMu sync.Mutex
	closing bool // set by Close before it waits for wg
}

// peerEntry is one connected key and its sessions on both doors.
type peerEntry struct {
	sessions map[string]session // by session ID
	lastSeen time.Time
	metadata map[string]any
}

// session is one connection of a client on either door.
type session interface {
	ID() string
	Key() string
	Kind() string // "websocket" or "rest"
	// deliver queues a message frame without blocking and reports whether it was queued.
	deliver(env *protocol.Envelope) bool
	// close ends the session; the relay has already removed it.
	close(reason string)
	// drain ends the session once the frames queued for it are written.
	drain()
}

// New creates a relay and its node. Start opens the listeners.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "relay"),
		key:     cfg.Node.Identity,
		selfKey: cfg.Node.Identity.PublicKey().String(),
		metrics: cfg.Metrics,
		sampler: newLogSampler(10 * time.Second),
		peers:   make(map[string]*peerEntry),

		wsSessions: make(map[*wsSession]struct{}),
		presence:   newPresenceLog(cfg.MaxPeers),
		presGate:   newPresenceGate(),
		conns:      newConnLimits(cfg.MaxConnections, cfg.MaxConnectionsPerIP),

		registerSlots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
	r.guard = protocol.NewGuard(protocol.GuardConfig{Freshness: cfg.Freshness, SenderRate: cfg.SenderRate})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	nodeCfg := cfg.Node
	nodeCfg.Handler = r.handleMesh
	if nodeCfg.Logger == nil {
		nodeCfg.Logger = cfg.Logger
	}
	n, err := node.New(ctx, nodeCfg)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("start relay node: %w", err)
	}
	r.node = n
	if cfg.restEnabled() {
		r.rest = newRESTDoor(r)
	}
	return r, nil
}

// Node returns the relay's libp2p node.
func (r *Relay) Node() *node.Node { return r.node }

// PublicKey returns the relay's public key in SPKI hex.
func (r *Relay) PublicKey() string { return r.selfKey }

// Start opens the WebSocket door and, when configured, the REST door. It returns once both
// listen.
func (r *Relay) Start(ctx context.Context) error {
	if r.cfg.AllowUnauthenticatedRegister {
		r.log.Warn("WebSocket registration without proof of possession is on: any client can register any key and receive its messages")
	}
	wsMux := http.NewServeMux()
	wsMux.HandleFunc("/", r.serveWebSocket)
	for path, h := range r.cfg.Handlers {
		wsMux.Handle(path, h)
	}
	wsURL, err := r.listen(ctx, r.cfg.WSAddr, wsMux, "ws")
	if err != nil {
		return err
	}
	r.wsURL = wsURL
	if r.rest != nil {
		restURL, err := r.listen(ctx, r.cfg.RESTAddr, r.rest.handler(), "http")
		if err != nil {
			return err
		}
		r.restURL = restURL
	}
	r.goTracked(r.sweep)
	r.goTracked(r.heartbeat)
	r.goTracked(func() { r.presence.notify(r.ctx.Done()) })
	r.log.Info("relay listening", "ws", r.wsURL, "rest", r.restURL, "peer", r.node.PeerID(),
		"proofOfPossession", !r.cfg.AllowUnauthenticatedRegister, "store", r.cfg.Store != nil,
		"tls", r.cfg.TLS != nil)
	return nil
}

func (r *Relay) listen(ctx context.Context, addr string, h http.Handler, scheme string) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	if r.cfg.TLS != nil {
		// Each server gets its own copy, because net/http adds its protocols to the config.
		srv.TLSConfig = r.cfg.TLS.Clone()
		if scheme == "ws" {
			// WebSocket upgrades need HTTP/1.1.
			srv.TLSConfig.NextProtos = []string{"http/1.1"}
		}
	}
	r.servers = append(r.servers, srv)
	if r.cfg.TLS != nil {
		scheme += "s"
	}
	r.goTracked(func() {
		var err error
		if r.cfg.TLS != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("HTTP server stopped", "addr", ln.Addr().String(), "err", err)
		}
	})
	return scheme + "://" + ln.Addr().String(), nil
}

// WSURL returns the WebSocket door's URL, such as ws://127.0.0.1:9470.
func (r *Relay) WSURL() string { return r.wsURL }

// RESTURL returns the REST door's URL, or "" when REST is off.
func (r *Relay) RESTURL() string { return r.restURL }

// Close stops accepting connections, closes every session and the node. ctx bounds the wait
// for in-flight HTTP requests.
func (r *Relay) Close(ctx context.Context) error {
	r.cancel()
	var errs []error
	for _, srv := range r.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	r.mu.Lock()
	var all []session
	for _, p := range r.peers {
		for _, s := range p.sessions {
			all = append(all, s)
		}
	}
	r.peers = make(map[string]*peerEntry)
	r.mu.Unlock()
	// WebSocket sessions that have not registered are in no peer entry. A session already
	// drained through its entry gets a second close frame queued, which is never written.
	all = append(all, r.allWSSessions()...)
	// Sessions first write what is queued for them, within the time ctx allows.
	for _, s := range all {
		s.drain()
	}
	r.trackMu.Lock()
	r.closing = true
	r.trackMu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, s := range append(all, r.allWSSessions()...) {
			s.close("relay shutting down")
		}
		<-done
	}
	if err := r.node.Close(); err != nil {
		errs = append(errs, err)
	}
	r.log.Info("relay stopped")
	return errors.Join(errs...)
}

// goTracked runs f in a goroutine that Close waits for, and reports whether it started. Once
// Close waits, it starts nothing more: handlers that net/http no longer tracks, such as those
// of upgraded connections, may call it at any time, and a WaitGroup must not grow from zero
// while Wait runs.
func (r *Relay) goTracked(f func()) bool {
	r.trackMu.Lock()
	defer r.trackMu.Unlock()
	if r.closing {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// sweep expires REST sessions and prunes revoked tokens every 10 seconds.
func (r *Relay) sweep() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			if r.rest != nil {
				r.rest.expire(now)
			}
		}
	}
}
