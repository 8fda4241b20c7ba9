package relaymode

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims are the claims of a REST session token: the subject is the client's public key.
type tokenClaims struct {
	jwt.RegisteredClaims
}

// tokens issues and checks HS256 session tokens and keeps the revocation list.
type tokens struct {
	secret []byte
	expiry time.Duration

	mu      sync.Mutex
	revoked map[string]time.Time // jti → expiry; pruned once the token would have expired
}

func newTokens(secret []byte, expiry time.Duration) *tokens {
	return &tokens{secret: secret, expiry: expiry, revoked: make(map[string]time.Time)}
}

// issue returns a token for key, its ID and its expiry.
func (t *tokens) issue(key string, now time.Time) (string, string, time.Time, error) {
	jti := newSessionID()
	exp := now.Add(t.expiry)
	claims := tokenClaims{jwt.RegisteredClaims{
		Subject:   key,
		ID:        jti,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("sign session token: %w", err)
	}
	return signed, jti, exp, nil
}

// Texts of 401 responses, as the earlier relay words them.
const (
	authMissing = "Missing or malformed Authorization header"
	authInvalid = "Invalid token"
	authExpired = "Token expired"
	authRevoked = "Token has been revoked"
)

// check validates the bearer token of req. Only HS256 with this relay's secret is accepted;
// "none" and every other algorithm are rejected.
func (t *tokens) check(req *http.Request) (*tokenClaims, string) {
	// The scheme name is case-insensitive in HTTP (RFC 9110, section 11.1).
	scheme, raw, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, authMissing
	}
	var claims tokenClaims
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), &claims, func(*jwt.Token) (any, error) {
		return t.secret, nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, authExpired
	case err != nil:
		return nil, authInvalid
	case claims.Subject == "" || claims.ID == "":
		return nil, authInvalid
	}
	if t.isRevoked(claims.ID) {
		return nil, authRevoked
	}
	return &claims, ""
}

func (t *tokens) revoke(jti string, exp time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.revoked[jti] = exp
}

func (t *tokens) isRevoked(jti string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.revoked[jti]
	return ok
}

// prune removes revoked tokens that have expired, since the signature check rejects them anyway.
func (t *tokens) prune(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for jti, exp := range t.revoked {
		if !now.Before(exp) {
			delete(t.revoked, jti)
		}
	}
}
