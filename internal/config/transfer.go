package config

import (
	"encoding/json"
	"fmt"
)

// ExportVersion is the schema version of exported configs, as in the earlier implementation.
const ExportVersion = 1

// Export returns the text of `agora config export`: {"version":1, "identity"?, "peers",
// "relay"?}, indented. The identity, which contains the private key, is included only when
// includeIdentity is set.
func Export(c *Config, includeIdentity bool) ([]byte, error) {
	out := &Config{Peers: c.Peers, Relay: c.Relay}
	if includeIdentity {
		out.Identity = c.Identity
	}
	out.raw = object{{Key: "version", Value: mustMarshal(ExportVersion)}}
	return out.Marshal()
}

// ParseExport reads a file written by Export. file names the file in errors.
func ParseExport(data []byte, file string) (*Config, error) {
	c, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	v, ok := c.raw.get("version")
	var version int
	if !ok || json.Unmarshal(v, &version) != nil || version != ExportVersion {
		return nil, &FieldError{File: file, Field: "version",
			Err: fmt.Errorf("expected %d (a file written by `agora config export`)", ExportVersion)}
	}
	return c, nil
}

// ImportOptions choose what Import may replace.
type ImportOptions struct {
	OverwriteIdentity bool
	OverwriteRelay    bool
}

// ImportResult reports what Import changed.
type ImportResult struct {
	PeersAdded       []string `json:"peersAdded"`   // short references
	PeersSkipped     []string `json:"peersSkipped"` // already configured, left as they were
	IdentityImported bool     `json:"identityImported"`
	RelayImported    bool     `json:"relayImported"`
}

// Import merges an exported config into target. Peers are merged by public key and existing
// entries are kept. The identity and relay are taken only when the options allow it.
func Import(target, incoming *Config, opts ImportOptions) (ImportResult, error) {
	res := ImportResult{PeersAdded: []string{}, PeersSkipped: []string{}}
	for _, p := range incoming.Peers {
		copied := *p
		copied.raw = append(object(nil), p.raw...)
		if existing := target.findPeerText(p.PublicKey); existing != nil {
			res.PeersSkipped = append(res.PeersSkipped, p.Reference())
			continue
		}
		if _, err := target.AddPeer(&copied); err != nil {
			return res, fmt.Errorf("peer %s: %w", p.Key, err)
		}
		res.PeersAdded = append(res.PeersAdded, p.Reference())
	}
	if opts.OverwriteIdentity && incoming.Identity != nil {
		id := *incoming.Identity
		target.Identity = &id
		res.IdentityImported = true
	}
	if opts.OverwriteRelay && incoming.Relay != nil {
		r := *incoming.Relay
		target.Relay = &r
		res.RelayImported = true
	}
	return res, nil
}

func (c *Config) findPeerText(publicKey string) *Peer {
	res, err := c.ResolvePeer(publicKey)
	if err != nil {
		return nil
	}
	return res.Peer
}
