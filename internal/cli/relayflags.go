package cli

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode"
)

// DefaultRelayWSAddr is the WebSocket address of `agora relay`. Like the other defaults it is on
// localhost, so a relay started without flags is not reachable from other machines.
const DefaultRelayWSAddr = relaymode.DefaultWSAddr

// DefaultRelayRESTAddr is the REST address of `agora relay` when a JWT secret is given without
// --rest-addr or REST_PORT.
const DefaultRelayRESTAddr = "127.0.0.1:9471"

// DefaultRelayListenAddrs are the libp2p addresses of `agora relay` without --listen.
var DefaultRelayListenAddrs = []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"}

// relayFlags are the flags of `agora relay` beyond the node flags. A flag that is not given
// leaves the value from the environment, or the default, in place.
type relayFlags struct {
	node nodeFlags

	wsAddr                string
	restAddr              string
	jwtSecretFile         string
	maxPeers              int
	maxConns              int
	maxConnsPerIP         int
	maxSessionsPerKey     int
	messageTTL            time.Duration
	rateLimitRPM          float64
	allowedOrigins        []string
	trustedProxies        []string
	senderRateLimit       float64
	allowUnauthRegister   bool
	restAllowPrivateKey   bool
	storagePeers          []string
	storageDir            string
	storageMaxMessages    int
	storageMaxPeerBytes   int64
	storageMaxTotalBytes  int64
	storageMaxAge         time.Duration
	tlsCert               string
	tlsKey                string
	changed               func(name string) bool
	parsedTrustedPrefixes []netip.Prefix
}

func addRelayFlags(cmd *cobra.Command, f *relayFlags) {
	addNodeFlags(cmd, &f.node, false, "libp2p listen multiaddr (repeatable; default: the config's list, else "+strings.Join(DefaultRelayListenAddrs, " and ")+")")
	// A relay is a circuit relay and DHT server for the mesh unless --relay-service=false.
	cmd.Flags().Lookup("relay-service").DefValue = "true"
	f.node.relayService = true
	fl := cmd.Flags()
	fl.StringVar(&f.wsAddr, "ws-addr", DefaultRelayWSAddr, "HOST:PORT of the WebSocket relay; port 0 picks a free port")
	fl.StringVar(&f.restAddr, "rest-addr", "", "HOST:PORT of the REST API; port 0 picks a free port (default: "+DefaultRelayRESTAddr+" when a JWT secret is given, else off)")
	fl.StringVar(&f.jwtSecretFile, "jwt-secret-file", "", "file containing the secret that signs REST session tokens (JWT)")
	fl.IntVar(&f.maxPeers, "max-peers", relaymode.DefaultMaxPeers, "maximum number of distinct public keys connected at once")
	fl.IntVar(&f.maxConns, "ws-max-conns", relaymode.DefaultMaxConnections, "maximum number of WebSocket connections open at once, registered or not; 0 turns the limit off")
	fl.IntVar(&f.maxConnsPerIP, "ws-max-conns-per-ip", relaymode.DefaultMaxConnectionsPerIP, "maximum number of WebSocket connections open at once from one client IP; 0 turns the limit off")
	fl.IntVar(&f.maxSessionsPerKey, "max-sessions-per-key", relaymode.DefaultMaxSessionsPerKey, "maximum number of sessions of one public key, over both doors; 0 turns the limit off")
	fl.DurationVar(&f.messageTTL, "message-ttl", relaymode.DefaultMessageTTL, "how long messages buffered for REST sessions are kept, such as 24h")
	fl.Float64Var(&f.rateLimitRPM, "rate-limit-rpm", relaymode.DefaultRateLimitRPM, "REST requests per minute allowed from one client IP; 0 turns the limit off")
	fl.StringSliceVar(&f.allowedOrigins, "allowed-origins", []string{"*"}, "comma-separated origins allowed in browser WebSocket and REST requests; * allows any")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "comma-separated IP addresses or CIDR prefixes of proxies whose X-Forwarded-For is believed")
	fl.Float64Var(&f.senderRateLimit, "sender-rate-limit", relaymode.DefaultSenderRate, "envelopes per minute accepted from one sender key; 0 turns the limit off")
	fl.BoolVar(&f.allowUnauthRegister, "allow-unauthenticated-register", false, "accept WebSocket registrations without proof of the private key, as the earlier relay does")
	fl.BoolVar(&f.restAllowPrivateKey, "rest-allow-private-key", true, "accept the earlier relay's REST registration, in which the client sends its private key; =false refuses it")
	fl.StringSliceVar(&f.storagePeers, "storage-peers", nil, "comma-separated public keys whose messages are stored while they are offline")
	fl.StringVar(&f.storageDir, "storage-dir", "", "directory of the message store for --storage-peers (default: relay-store beside the config file)")
	fl.IntVar(&f.storageMaxMessages, "storage-max-messages", 0, "messages kept per storage peer (0: the store's default, 10000; negative: no limit)")
	fl.Int64Var(&f.storageMaxPeerBytes, "storage-max-peer-bytes", 0, "bytes of envelopes kept per storage peer (0: the store's default, 64 MiB; negative: no limit)")
	fl.Int64Var(&f.storageMaxTotalBytes, "storage-max-total-bytes", 0, "bytes of envelopes kept for all storage peers together (0: the store's default, 1 GiB; negative: no limit)")
	fl.DurationVar(&f.storageMaxAge, "storage-max-age", 0, "age after which stored envelopes are deleted, such as 72h (0: the store's default, 7 days)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves wss:// and https:// with --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key file (PEM) for --tls-cert")
	f.changed = func(name string) bool { return cmd.Flags().Changed(name) }
}

// validate checks the flag values that can be checked without starting anything.
func (f *relayFlags) validate() error {
	if err := checkHostPort("--ws-addr", f.wsAddr); err != nil {
		return err
	}
	if f.restAddr != "" {
		if err := checkHostPort("--rest-addr", f.restAddr); err != nil {
			return err
		}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usageError("--tls-cert and --tls-key go together; give both or neither")
	}
	for name, v := range map[string]float64{"--rate-limit-rpm": f.rateLimitRPM, "--sender-rate-limit": f.senderRateLimit} {
		if v < 0 {
			return usageError("invalid %s %v: it must not be negative", name, v)
		}
	}
	for name, v := range map[string]int{"--ws-max-conns": f.maxConns, "--ws-max-conns-per-ip": f.maxConnsPerIP, "--max-sessions-per-key": f.maxSessionsPerKey} {
		if v < 0 {
			return usageError("invalid %s %d: it must not be negative", name, v)
		}
	}
	if f.maxPeers <= 0 {
		return usageError("invalid --max-peers %d: it must be positive", f.maxPeers)
	}
	if f.messageTTL <= 0 {
		return usageError("invalid --message-ttl %s: it must be positive", f.messageTTL)
	}
	for _, k := range f.storagePeers {
		if _, err := protocol.ParsePublicKey(strings.TrimSpace(k)); err != nil {
			return usageError("invalid --storage-peers entry: %v", err)
		}
	}
	f.parsedTrustedPrefixes = nil
	for _, s := range f.trustedProxies {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return usageError("invalid --trusted-proxies entry %q: expected an IP address or CIDR prefix", s)
		}
		f.parsedTrustedPrefixes = append(f.parsedTrustedPrefixes, p)
	}
	return nil
}

func checkHostPort(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError("invalid %s %q: expected HOST:PORT, such as 127.0.0.1:9470: %v", flag, addr, err)
	}
	if host == "" {
		return usageError("invalid %s %q: the host is empty; use 0.0.0.0 to listen on every interface", flag, addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return usageError("invalid %s %q: %v", flag, addr, err)
	}
	return nil
}

// parsePrefix accepts a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse %q: %w", s, err)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}
