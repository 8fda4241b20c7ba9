package relaymode

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

// clientIP returns the address of the client: the connection's peer, or, when that peer is a
// trusted proxy, the last address in X-Forwarded-For that is not itself a trusted proxy.
func clientIP(req *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	hops := strings.Split(req.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(addr, trusted) {
			return addr.String()
		}
	}
	return host
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// rateLimit wraps h with the per-IP limit and the RateLimit response headers.
func rateLimit(h http.Handler, limiter *protocol.RateLimiter, rpm float64, trusted []netip.Prefix, onLimited func()) http.Handler {
	if rpm <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ok, rem := limiter.Reserve(clientIP(req, trusted), time.Now())
		w.Header().Set("RateLimit-Limit", strconv.Itoa(int(rpm)))
		w.Header().Set("RateLimit-Remaining", strconv.Itoa(rem.Tokens))
		// The quota is whole again once the bucket has refilled.
		w.Header().Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(rem.Full)))
		w.Header().Set("RateLimit-Policy", strconv.Itoa(int(rpm))+";w=60")
		if !ok {
			onLimited()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(rem.Reset))))
			writeError(w, http.StatusTooManyRequests, "Too many requests — try again later")
			return
		}
		h.ServeHTTP(w, req)
	})
}

// cors wraps h with CORS headers for the allowed origins and responds 204 to preflight requests.
func cors(h http.Handler, origins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		origin := req.Header.Get("Origin")
		for _, o := range origins {
			if o == "*" {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				break
			}
			if o == origin {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Add("Vary", "Origin")
				break
			}
		}
		if req.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
