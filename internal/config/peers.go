package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/agora-p2p/agora/protocol"
)

// Reference returns the peer's short reference: "name@<last 8 hex>", or "@<last 8 hex>" when
// the peer has no name.
func (p *Peer) Reference() string {
	k, err := protocol.ParsePublicKey(p.PublicKey)
	if err != nil {
		return p.Key
	}
	return p.Name + "@" + k.Short()
}

// FindPeer returns the configured entry for key, or nil.
func (c *Config) FindPeer(key protocol.PublicKey) *Peer {
	for _, p := range c.Peers {
		if k, err := protocol.ParsePublicKey(p.PublicKey); err == nil && k == key {
			return p
		}
	}
	return nil
}

// AddPeer stores p, keyed by its public key in lowercase SPKI hex. An entry for the same key is
// replaced in place, keeping its unknown fields. It returns true when the peer is new.
func (c *Config) AddPeer(p *Peer) (bool, error) {
	key, err := protocol.ParsePublicKey(p.PublicKey)
	if err != nil {
		return false, err
	}
	p.PublicKey = key.String()
	if old := c.FindPeer(key); old != nil {
		old.Name, old.URL, old.Token, old.PublicKey = p.Name, p.URL, p.Token, p.PublicKey
		if p.Addrs != nil {
			old.Addrs = p.Addrs
		}
		return false, nil
	}
	if p.Key == "" {
		p.Key = p.PublicKey
	}
	c.Peers = append(c.Peers, p)
	return true, nil
}

// RemovePeer deletes the entry for key and reports whether there was one.
func (c *Config) RemovePeer(key protocol.PublicKey) bool {
	for i, p := range c.Peers {
		if k, err := protocol.ParsePublicKey(p.PublicKey); err == nil && k == key {
			c.Peers = append(c.Peers[:i], c.Peers[i+1:]...)
			return true
		}
	}
	return false
}

// Resolution is the outcome of resolving a peer reference.
type Resolution struct {
	Key  protocol.PublicKey
	Peer *Peer // nil for a full key or peer ID that is not configured
}

// RefError is a peer reference that names no peer or more than one.
type RefError struct {
	Ref        string
	Ambiguous  bool
	Candidates []string // short references of the matching or the configured peers
}

// maxCandidates bounds the list in a RefError.
const maxCandidates = 20

func (e *RefError) Error() string {
	var b strings.Builder
	if e.Ambiguous {
		fmt.Fprintf(&b, "peer reference %q is ambiguous; it matches %s", e.Ref, strings.Join(e.Candidates, ", "))
		b.WriteString("; use name@<last 8 hex> or the full public key")
		return b.String()
	}
	fmt.Fprintf(&b, "unknown peer %q", e.Ref)
	if len(e.Candidates) == 0 {
		b.WriteString("; no peers are configured (add one with `agora peers add`)")
	} else {
		fmt.Fprintf(&b, "; configured peers: %s", strings.Join(e.Candidates, ", "))
	}
	return b.String()
}

// Short reference forms. The forms with "..." are the earlier implementation's older spelling.
var (
	namedSuffixRef = regexp.MustCompile(`^(.+?)(?:@|\.\.\.)([0-9a-fA-F]{8})$`)
	suffixRef      = regexp.MustCompile(`^(?:@|\.\.\.)([0-9a-fA-F]{8})$`)
)

// ResolvePeer finds the peer that ref names. ref may be a public key in SPKI hex, a libp2p peer
// ID, a configured name, "name@<last 8 hex>" or "@<last 8 hex>" ("name...<last 8 hex>" and
// "...<last 8 hex>" too). A key or peer ID resolves
// even when no peer is configured for it. The other forms must match exactly one configured
// peer, else the error is a *RefError listing the candidates.
func (c *Config) ResolvePeer(ref string) (Resolution, error) {
	ref = strings.TrimSpace(ref)
	if k, ok := parseKeyRef(ref); ok {
		return Resolution{Key: k, Peer: c.FindPeer(k)}, nil
	}
	var matches []*Peer
	if m := suffixRef.FindStringSubmatch(ref); m != nil {
		matches = c.filterPeers(func(_ *Peer, short string) bool { return strings.EqualFold(short, m[1]) })
	} else if m := namedSuffixRef.FindStringSubmatch(ref); m != nil {
		matches = c.filterPeers(func(p *Peer, short string) bool {
			return p.Name == m[1] && strings.EqualFold(short, m[2])
		})
	} else {
		matches = c.filterPeers(func(p *Peer, _ string) bool { return p.Name == ref })
	}
	switch len(matches) {
	case 1:
		k, _ := protocol.ParsePublicKey(matches[0].PublicKey)
		return Resolution{Key: k, Peer: matches[0]}, nil
	case 0:
		return Resolution{}, &RefError{Ref: ref, Candidates: references(c.Peers)}
	default:
		return Resolution{}, &RefError{Ref: ref, Ambiguous: true, Candidates: references(matches)}
	}
}

// parseKeyRef accepts only the two full key forms, so that a name never parses as a key.
func parseKeyRef(ref string) (protocol.PublicKey, bool) {
	if len(ref) != protocol.PublicKeyHexLen && !strings.HasPrefix(ref, "12D3KooW") {
		return protocol.PublicKey{}, false
	}
	k, err := protocol.ParsePublicKey(ref)
	return k, err == nil
}

func (c *Config) filterPeers(match func(p *Peer, short string) bool) []*Peer {
	var out []*Peer
	for _, p := range c.Peers {
		k, err := protocol.ParsePublicKey(p.PublicKey)
		if err == nil && match(p, k.Short()) {
			out = append(out, p)
		}
	}
	return out
}

func references(peers []*Peer) []string {
	refs := make([]string, 0, len(peers))
	for _, p := range peers {
		refs = append(refs, p.Reference())
	}
	sort.Strings(refs)
	if len(refs) > maxCandidates {
		refs = append(refs[:maxCandidates], fmt.Sprintf("and %d more", len(refs)-maxCandidates))
	}
	return refs
}
