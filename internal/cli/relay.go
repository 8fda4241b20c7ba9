package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/relaymode"
	"github.com/agora-p2p/agora/relaymode/metrics"
	"github.com/agora-p2p/agora/relaymode/store"
)

// relayCloseTimeout bounds the wait for in-flight HTTP requests when the relay stops.
const relayCloseTimeout = 10 * time.Second

// storeExpireInterval is how often stored envelopes older than the store's MaxAge are removed.
const storeExpireInterval = 10 * time.Minute

func (a *app) relayCommand() *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a node in relay mode until SIGINT or SIGTERM",
		Long: `Runs a node with a WebSocket door and, when --rest-addr and a JWT secret are given, a REST
door for clients that cannot join the libp2p mesh. Without flags everything listens on
127.0.0.1 only, mDNS is off, and an identity is created in the config on first run.

The earlier relay's environment variables apply (RELAY_PORT or PORT, REST_PORT, JWT_SECRET or
AGORA_RELAY_JWT_SECRET, AGORA_JWT_EXPIRY_SECONDS, MAX_PEERS, MESSAGE_TTL_MS, RATE_LIMIT_RPM,
ALLOWED_ORIGINS, AGORA_ALLOW_UNAUTHENTICATED_REGISTER); flags given on the command line win.

With --json the first stdout line is {"event":"listening","publicKey","peerId","addrs","ws",
"rest"}, where rest is absent when REST is off.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runRelay(&f) },
	}
	addRelayFlags(cmd, &f)
	return cmd
}

func (a *app) runRelay(f *relayFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	c, path, _, err := a.ensureIdentity()
	if err != nil {
		return err
	}
	cfg, err := relaymode.ConfigFromEnv(os.Getenv)
	if err != nil {
		return usageError("%v", err)
	}
	if cfg.Node, err = a.nodeConfig(c, f.node, DefaultRelayListenAddrs); err != nil {
		return err
	}
	cfg.Logger = a.log
	if err := f.apply(&cfg, a); err != nil {
		return err
	}
	st, err := a.openStore(f, path, &cfg)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	addMetrics(&cfg, st)
	return a.serveRelay(cfg, st)
}

// apply writes the flags given on the command line over the environment's values.
func (f *relayFlags) apply(cfg *relaymode.Config, a *app) error {
	set := f.changed
	if set("ws-addr") || cfg.WSAddr == "" {
		cfg.WSAddr = f.wsAddr
	}
	if set("rest-addr") {
		cfg.RESTAddr = f.restAddr
	}
	if set("max-peers") {
		cfg.MaxPeers = f.maxPeers
	}
	if set("ws-max-conns") {
		cfg.MaxConnections = f.maxConns
	}
	if set("ws-max-conns-per-ip") {
		cfg.MaxConnectionsPerIP = f.maxConnsPerIP
	}
	if set("max-sessions-per-key") {
		cfg.MaxSessionsPerKey = f.maxSessionsPerKey
	}
	if set("message-ttl") {
		cfg.MessageTTL = f.messageTTL
	}
	if set("rate-limit-rpm") {
		cfg.RateLimitRPM = f.rateLimitRPM
	}
	if set("allowed-origins") {
		cfg.AllowedOrigins = f.allowedOrigins
	}
	if set("trusted-proxies") {
		cfg.TrustedProxies = f.parsedTrustedPrefixes
	}
	if set("sender-rate-limit") {
		cfg.SenderRate = f.senderRateLimit
	}
	if set("allow-unauthenticated-register") {
		cfg.AllowUnauthenticatedRegister = f.allowUnauthRegister
	}
	cfg.AllowPrivateKeyRegister = f.restAllowPrivateKey
	cfg.StoragePeers = f.storagePeers
	if f.jwtSecretFile != "" {
		secret, err := readSecretFile(f.jwtSecretFile, a)
		if err != nil {
			return err
		}
		cfg.JWTSecret = secret
	}
	if cfg.RESTAddr == "" && len(cfg.JWTSecret) > 0 {
		cfg.RESTAddr = DefaultRelayRESTAddr
	}
	if cfg.RESTAddr != "" && len(cfg.JWTSecret) == 0 {
		return usageError("REST at %s needs a JWT secret: give --jwt-secret-file or set JWT_SECRET", cfg.RESTAddr)
	}
	if f.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return usageError("load --tls-cert and --tls-key: %v", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// readSecretFile reads a secret and drops surrounding whitespace, such as the newline an editor
// adds. It warns when group or others may read the file.
func readSecretFile(path string, a *app) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, usageError("read --jwt-secret-file: %v", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		a.log.Warn("JWT secret file is readable by other users; run chmod 600 on it", "file", path,
			"mode", info.Mode().Perm().String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("read --jwt-secret-file: %v", err)
	}
	secret := bytes.TrimSpace(data)
	if len(secret) < relaymode.MinJWTSecretBytes {
		return nil, usageError("the JWT secret in %s has %d bytes; it must have at least %d", path, len(secret), relaymode.MinJWTSecretBytes)
	}
	return secret, nil
}

// openStore opens the message store for --storage-peers, in --storage-dir or in relay-store
// beside the config file.
func (a *app) openStore(f *relayFlags, configPath string, cfg *relaymode.Config) (*store.Store, error) {
	if len(f.storagePeers) == 0 {
		if f.storageDir != "" {
			a.log.Warn("--storage-dir has no effect without --storage-peers", "dir", f.storageDir)
		}
		return nil, nil
	}
	dir := f.storageDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(configPath), "relay-store")
	}
	st, err := store.Open(store.Options{
		Dir:             dir,
		StoragePeers:    f.storagePeers,
		MaxPerPeer:      f.storageMaxMessages,
		MaxBytesPerPeer: f.storageMaxPeerBytes,
		MaxTotalBytes:   f.storageMaxTotalBytes,
		MaxAge:          f.storageMaxAge,
		Logger:          a.log,
	})
	if err != nil {
		return nil, err
	}
	cfg.Store = st
	return st, nil
}

// addMetrics serves /metrics and /healthz on the WebSocket listener. The store, when there is
// one, adds its depth to the metrics and its Check to the readiness checks.
func addMetrics(cfg *relaymode.Config, st *store.Store) {
	m := metrics.New()
	cfg.Metrics = m
	cfg.Node.Metrics = m.Registry()
	cfg.Handlers = map[string]http.Handler{"/metrics": m.Handler(), "/healthz": m.HealthHandler()}
	if st != nil {
		m.WatchStore(st)
		m.AddReadinessCheck("store", st.Check)
	}
}

func (a *app) serveRelay(cfg relaymode.Config, st *store.Store) error {
	r, err := relaymode.New(a.ctx, cfg)
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), relayCloseTimeout)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			a.log.Error("close relay", "err", err)
		}
	}()
	if err := r.Start(a.ctx); err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	extra := map[string]string{"ws": r.WSURL()}
	if r.RESTURL() != "" {
		extra["rest"] = r.RESTURL()
	}
	if err := (&eventWriter{app: a}).listening(r.Node(), extra); err != nil {
		return err
	}
	a.waitRelay(st)
	a.log.Info("stopping relay")
	return nil
}

// waitRelay blocks until the context ends, expiring old stored envelopes meanwhile.
func (a *app) waitRelay(st *store.Store) {
	ticker := time.NewTicker(storeExpireInterval)
	defer ticker.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case now := <-ticker.C:
			if st == nil {
				continue
			}
			if _, err := st.Expire(now); err != nil {
				a.log.Error("expire stored envelopes", "err", err)
			}
		}
	}
}
