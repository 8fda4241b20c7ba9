package relaymode

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

// Defaults of Config, as DefaultConfig sets them. The earlier relay uses the same values for
// MaxPeers, JWTExpiry, MessageTTL, RateLimitRPM and SenderRate.
const (
	DefaultWSAddr            = "127.0.0.1:9470"
	DefaultMaxPeers          = 100
	DefaultJWTExpiry         = time.Hour
	DefaultMessageTTL        = 24 * time.Hour
	DefaultReplayRetention   = 7 * 24 * time.Hour
	DefaultRateLimitRPM      = 60
	DefaultSenderRate        = 10
	DefaultSendQueue         = 1024
	DefaultSendQueueBytes    = 8 << 20
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultRESTBuffer        = 1000
	DefaultForwardTimeout    = 10 * time.Second
	// DefaultMaxConnections bounds open WebSocket connections; at about 20 KiB each when idle,
	// the default costs at most about 200 MiB.
	DefaultMaxConnections      = 10000
	DefaultMaxConnectionsPerIP = 256
	DefaultMaxSessionsPerKey   = 16
	// MinJWTSecretBytes is the shortest JWT secret accepted: HS256 needs a key of at least the
	// hash size to keep its strength.
	MinJWTSecretBytes = 32
)

// Config configures a relay. Start from DefaultConfig or ConfigFromEnv.
type Config struct {
	// Node configures the libp2p node the relay runs in. The relay installs its own Handler,
	// which routes envelopes from the mesh to front-door clients.
	Node node.Config

	WSAddr   string // host:port of the WebSocket door; port 0 picks a free port
	RESTAddr string // host:port of the REST door; "" or no JWTSecret turns REST off

	JWTSecret       []byte
	JWTExpiry       time.Duration
	MaxPeers        int           // distinct keys connected at once, over both doors
	MessageTTL      time.Duration // lifetime of messages buffered for REST sessions
	ReplayRetention time.Duration // how far back GET /v1/messages/replay reaches
	RESTBuffer      int           // messages buffered per REST session; the oldest are dropped first
	RateLimitRPM    float64       // REST requests per minute per client IP; 0 turns the limit off
	AllowedOrigins  []string      // CORS and WebSocket origins; "*" allows any
	TrustedProxies  []netip.Prefix
	// SenderRate is envelopes per minute per sender key, over both doors; 0 turns it off.
	SenderRate float64

	// MaxConnections bounds open WebSocket connections, registered or not, and
	// MaxConnectionsPerIP those from one client address (the X-Forwarded-For address when the
	// connection comes from a trusted proxy). MaxSessionsPerKey bounds the sessions of one
	// key over both doors. 0 turns a limit off.
	MaxConnections      int
	MaxConnectionsPerIP int
	MaxSessionsPerKey   int

	// AllowUnauthenticatedRegister accepts WebSocket registrations that do not sign the
	// challenge, as the earlier relay does. Anyone can then receive anyone's messages.
	AllowUnauthenticatedRegister bool
	// AllowPrivateKeyRegister accepts the earlier relay's REST registration, in which the client
	// sends its private key and the relay signs for it.
	AllowPrivateKeyRegister bool

	Limits            protocol.Limits
	Freshness         protocol.Freshness
	SendQueue         int           // frames queued per WebSocket session before it is cut off
	SendQueueBytes    int           // bytes of frames queued per WebSocket session before it is cut off
	HeartbeatInterval time.Duration // WebSocket ping interval; a session silent for two is closed
	ForwardTimeout    time.Duration // time to deliver an envelope to a mesh peer

	// TLS, when set, serves wss:// and https:// on both doors.
	TLS *tls.Config
	// Store keeps envelopes for offline storage peers; nil turns store-and-forward off.
	Store Store
	// StoragePeers lists the keys that Store keeps envelopes for. They appear in the
	// registered frame's peer list while offline, as in the earlier relay.
	StoragePeers []string
	// Metrics receives counts of what the relay does; nil discards them.
	Metrics Metrics
	// Handlers are extra HTTP handlers served on the WebSocket door's listener, by path (for
	// example /metrics and /healthz).
	Handlers map[string]http.Handler

	Logger *slog.Logger
}

// DefaultConfig returns the defaults, with REST off (no JWT secret).
func DefaultConfig() Config {
	return Config{
		WSAddr:                  DefaultWSAddr,
		JWTExpiry:               DefaultJWTExpiry,
		MaxPeers:                DefaultMaxPeers,
		MessageTTL:              DefaultMessageTTL,
		ReplayRetention:         DefaultReplayRetention,
		RESTBuffer:              DefaultRESTBuffer,
		RateLimitRPM:            DefaultRateLimitRPM,
		AllowedOrigins:          []string{"*"},
		SenderRate:              DefaultSenderRate,
		MaxConnections:          DefaultMaxConnections,
		MaxConnectionsPerIP:     DefaultMaxConnectionsPerIP,
		MaxSessionsPerKey:       DefaultMaxSessionsPerKey,
		AllowPrivateKeyRegister: true,
		Limits:                  protocol.DefaultLimits(),
		SendQueue:               DefaultSendQueue,
		SendQueueBytes:          DefaultSendQueueBytes,
		HeartbeatInterval:       DefaultHeartbeatInterval,
		ForwardTimeout:          DefaultForwardTimeout,
	}
}

// ConfigFromEnv returns DefaultConfig with the earlier relay's environment variables applied:
// RELAY_PORT or PORT, REST_PORT, JWT_SECRET or AGORA_RELAY_JWT_SECRET, AGORA_JWT_EXPIRY_SECONDS,
// MAX_PEERS, MESSAGE_TTL_MS, RATE_LIMIT_RPM, ALLOWED_ORIGINS and
// AGORA_ALLOW_UNAUTHENTICATED_REGISTER. Ports bind to 127.0.0.1 unless the CLI sets a host.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	port := firstNonEmpty(getenv("RELAY_PORT"), getenv("PORT"))
	if port != "" {
		if _, err := parsePort("RELAY_PORT", port); err != nil {
			return cfg, err
		}
		cfg.WSAddr = "127.0.0.1:" + port
	}
	if p := getenv("REST_PORT"); p != "" {
		if _, err := parsePort("REST_PORT", p); err != nil {
			return cfg, err
		}
		cfg.RESTAddr = "127.0.0.1:" + p
	}
	if s := firstNonEmpty(getenv("JWT_SECRET"), getenv("AGORA_RELAY_JWT_SECRET")); s != "" {
		cfg.JWTSecret = []byte(s)
	}
	ints := []struct {
		name  string
		apply func(int)
	}{
		{"AGORA_JWT_EXPIRY_SECONDS", func(v int) { cfg.JWTExpiry = time.Duration(v) * time.Second }},
		{"MAX_PEERS", func(v int) { cfg.MaxPeers = v }},
		{"MESSAGE_TTL_MS", func(v int) { cfg.MessageTTL = time.Duration(v) * time.Millisecond }},
		{"RATE_LIMIT_RPM", func(v int) { cfg.RateLimitRPM = float64(v) }},
	}
	for _, e := range ints {
		s := getenv(e.name)
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return cfg, fmt.Errorf("invalid %s %q: expected a non-negative integer", e.name, s)
		}
		e.apply(v)
	}
	if s := getenv("ALLOWED_ORIGINS"); s != "" {
		cfg.AllowedOrigins = splitList(s)
	}
	if s := getenv("AGORA_ALLOW_UNAUTHENTICATED_REGISTER"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return cfg, fmt.Errorf("invalid AGORA_ALLOW_UNAUTHENTICATED_REGISTER %q: expected true or false", s)
		}
		cfg.AllowUnauthenticatedRegister = v
	}
	return cfg, nil
}

func parsePort(name, s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 65535 {
		return 0, fmt.Errorf("invalid %s %q: expected a port number from 0 to 65535", name, s)
	}
	return v, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// validate checks the config and fills zero values that have no meaning of their own.
func (c *Config) validate() error {
	if c.Node.Identity == nil {
		return fmt.Errorf("relay config: Node.Identity is required")
	}
	if c.WSAddr == "" {
		return fmt.Errorf("relay config: WSAddr is required")
	}
	if c.RESTAddr != "" && len(c.JWTSecret) > 0 && len(c.JWTSecret) < MinJWTSecretBytes {
		return fmt.Errorf("relay config: the JWT secret has %d bytes; it must have at least %d", len(c.JWTSecret), MinJWTSecretBytes)
	}
	defaults := DefaultConfig()
	if c.JWTExpiry <= 0 {
		c.JWTExpiry = defaults.JWTExpiry
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = defaults.MaxPeers
	}
	if c.MessageTTL <= 0 {
		c.MessageTTL = defaults.MessageTTL
	}
	if c.ReplayRetention <= 0 {
		c.ReplayRetention = defaults.ReplayRetention
	}
	if c.RESTBuffer <= 0 {
		c.RESTBuffer = defaults.RESTBuffer
	}
	if c.SendQueue <= 0 {
		c.SendQueue = defaults.SendQueue
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = defaults.SendQueueBytes
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = defaults.HeartbeatInterval
	}
	if c.ForwardTimeout <= 0 {
		c.ForwardTimeout = defaults.ForwardTimeout
	}
	if len(c.AllowedOrigins) == 0 {
		c.AllowedOrigins = defaults.AllowedOrigins
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	return nil
}

// restEnabled reports whether the REST door runs.
func (c *Config) restEnabled() bool { return c.RESTAddr != "" && len(c.JWTSecret) > 0 }
