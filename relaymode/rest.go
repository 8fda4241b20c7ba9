package relaymode

import (
	"net/http"
	"sync"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// restDoor is the REST/JWT front door.
type restDoor struct {
	r       *Relay
	tokens  *tokens
	limiter *protocol.RateLimiter

	mu       sync.Mutex
	sessions map[string]*restSession // by public key: one REST session per key, as in the earlier relay
	nonces   map[string]time.Time    // challenge nonces → expiry; each is used once
}

// challengeTTL is how long a REST challenge nonce stays valid.
const challengeTTL = 5 * time.Minute

// maxNonces bounds the outstanding challenges; the per-IP rate limit bounds how fast they grow.
const maxNonces = 100_000

func newRESTDoor(r *Relay) *restDoor {
	return &restDoor{
		r:        r,
		tokens:   newTokens(r.cfg.JWTSecret, r.cfg.JWTExpiry),
		limiter:  protocol.NewRateLimiter(r.cfg.RateLimitRPM, max(1, int(r.cfg.RateLimitRPM)), 100_000),
		sessions: make(map[string]*restSession),
		nonces:   make(map[string]time.Time),
	}
}

func (d *restDoor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/challenge", d.handleChallenge)
	mux.HandleFunc("POST /v1/register", d.handleRegister)
	mux.HandleFunc("POST /v1/send", d.authed(d.handleSend))
	mux.HandleFunc("GET /v1/peers", d.authed(d.handlePeers))
	mux.HandleFunc("GET /v1/messages", d.authed(d.handleMessages))
	mux.HandleFunc("GET /v1/messages/replay", d.authed(d.handleReplay))
	mux.HandleFunc("DELETE /v1/disconnect", d.authed(d.handleDisconnect))
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, "Not found: "+req.Method+" "+req.URL.Path)
	})
	limited := rateLimit(d.limitBody(mux), d.limiter, d.r.cfg.RateLimitRPM, d.r.cfg.TrustedProxies, d.r.metrics.RateLimited)
	return cors(limited, d.r.cfg.AllowedOrigins)
}

// limitBody caps request bodies at the envelope limit plus room for the request's own fields.
func (d *restDoor) limitBody(h http.Handler) http.Handler {
	limit := int64(d.r.cfg.Limits.MaxBytes) + 64<<10
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, limit)
		h.ServeHTTP(w, req)
	})
}

// authed wraps a handler that needs a valid token and a live session.
func (d *restDoor) authed(h func(http.ResponseWriter, *http.Request, *restSession)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		claims, problem := d.tokens.check(req)
		if problem != "" {
			d.r.metrics.AuthFailure("rest")
			writeError(w, http.StatusUnauthorized, problem)
			return
		}
		d.mu.Lock()
		s := d.sessions[claims.Subject]
		d.mu.Unlock()
		if s == nil || s.jti != claims.ID {
			writeError(w, http.StatusUnauthorized, "Session not found — please re-register")
			return
		}
		h(w, req, s)
	}
}

func (d *restDoor) newChallenge(now time.Time) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.nonces) >= maxNonces {
		d.pruneNoncesLocked(now)
		if len(d.nonces) >= maxNonces {
			return "", false
		}
	}
	nonce := newNonce()
	d.nonces[nonce] = now.Add(challengeTTL)
	return nonce, true
}

// useNonce consumes a nonce and reports whether it was issued and is still valid.
func (d *restDoor) useNonce(nonce string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp, ok := d.nonces[nonce]
	delete(d.nonces, nonce)
	return ok && now.Before(exp)
}

func (d *restDoor) pruneNoncesLocked(now time.Time) {
	for n, exp := range d.nonces {
		if !now.Before(exp) {
			delete(d.nonces, n)
		}
	}
}

// expire drops sessions whose token expired, with their private keys and buffers.
func (d *restDoor) expire(now time.Time) {
	d.mu.Lock()
	var expired []*restSession
	for k, s := range d.sessions {
		if !now.Before(s.expiresAt) {
			expired = append(expired, s)
			delete(d.sessions, k)
		}
	}
	d.pruneNoncesLocked(now)
	d.mu.Unlock()
	for _, s := range expired {
		d.r.unregister(s)
		s.close("token expired")
	}
	d.tokens.prune(now)
}
