// Package config reads and writes agora config files in the format of the earlier TypeScript
// implementation (npm package @rookdaemon/agora, src/config.ts), so that an existing user keeps
// their identity, peers and relay. Fields of this implementation are added beside them, and
// members that this package does not know are kept on rewrite.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agora-p2p/agora/protocol"
)

// Config is one config file.
type Config struct {
	Identity *Identity // nil until `agora init` or an import creates one
	Peers    []*Peer   // in file order
	Relay    *Relay    // nil when no relay is configured
	// Listen lists the libp2p listen multiaddrs of `agora node` and `agora relay`. It is a field
	// of this implementation.
	Listen []string
	// Bootstrap lists libp2p multiaddrs ending in /p2p/<peer ID>, dialed to join the DHT. It is a
	// field of this implementation.
	Bootstrap []string

	raw object // members as read, unknown ones included
}

// Identity is the node's key pair in agora hex form.
type Identity struct {
	PublicKey  string // SPKI DER hex
	PrivateKey string // PKCS#8 DER hex
	Name       string // display name sent when registering with a relay; may be empty

	raw object
}

// Peer is a configured peer.
type Peer struct {
	// Key is the member name under "peers". Entries written by this package use the public key;
	// older files may use the peer's name.
	Key       string
	PublicKey string // SPKI DER hex
	Name      string
	URL       string // base URL of the peer's webhook; envelopes are POSTed to URL + "/agent"
	Token     string // bearer token for URL
	// Addrs lists libp2p multiaddrs of the peer. It is a field of this implementation.
	Addrs []string

	raw object
}

// Relay is the configured WebSocket relay. The file may contain it as a plain URL string or as
// an object. A relay read as a string is written back as a string unless a field other than
// URL was set.
type Relay struct {
	URL            string
	AutoConnect    *bool    // nil means true, as in the earlier implementation
	Name           string   // name to register under
	ReconnectMaxMs *float64 // maximum reconnect delay, in milliseconds
	// PublicKey is the relay's own key (SPKI hex), the recipient of peer_list_request. It is a
	// field of this implementation.
	PublicKey string

	wasString bool
	raw       object
}

// FieldError is a config file that cannot be used, with the path of the offending field in
// dotted form, such as "peers.bob.publicKey".
type FieldError struct {
	File  string
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("config file %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("config file %s: field %s: %v", e.File, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Parse reads a config file's text. file names the file in errors.
func Parse(data []byte, file string) (*Config, error) {
	fail := func(field string, err error) (*Config, error) {
		return nil, &FieldError{File: file, Field: field, Err: err}
	}
	top, err := decodeObject(data)
	if err != nil {
		return fail("", fmt.Errorf("invalid JSON: %w", err))
	}
	c := &Config{raw: top}
	if v, ok := top.get("identity"); ok && !isNull(v) {
		if c.Identity, err = parseIdentity(v); err != nil {
			return fail("identity"+fieldSuffix(err), fieldCause(err))
		}
	}
	if v, ok := top.get("peers"); ok && !isNull(v) {
		peers, err := decodeObject(v)
		if err != nil {
			return fail("peers", err)
		}
		for _, m := range peers {
			p, err := parsePeer(m.Key, m.Value)
			if err != nil {
				return fail("peers."+m.Key+fieldSuffix(err), fieldCause(err))
			}
			c.Peers = append(c.Peers, p)
		}
	}
	if v, ok := top.get("relay"); ok && !isNull(v) {
		if c.Relay, err = parseRelay(v); err != nil {
			return fail("relay"+fieldSuffix(err), fieldCause(err))
		}
	}
	if c.Listen, err = stringList(top, "listen"); err != nil {
		return fail("listen", err)
	}
	if c.Bootstrap, err = stringList(top, "bootstrap"); err != nil {
		return fail("bootstrap", err)
	}
	if err := c.checkDuplicates(); err != nil {
		return fail("peers", err)
	}
	return c, nil
}

// memberError is an error in a member of a nested object.
type memberError struct {
	key string
	err error
}

func (e *memberError) Error() string { return e.key + ": " + e.err.Error() }

func fieldSuffix(err error) string {
	var me *memberError
	if errors.As(err, &me) {
		return "." + me.key
	}
	return ""
}

func fieldCause(err error) error {
	var me *memberError
	if errors.As(err, &me) {
		return me.err
	}
	return err
}

func parseIdentity(data json.RawMessage) (*Identity, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	id := &Identity{raw: obj}
	if id.PublicKey, err = requiredString(obj, "publicKey"); err != nil {
		return nil, err
	}
	if id.PrivateKey, err = requiredString(obj, "privateKey"); err != nil {
		return nil, err
	}
	if id.Name, err = optionalString(obj, "name"); err != nil {
		return nil, err
	}
	pub, err := protocol.ParsePublicKey(id.PublicKey)
	if err != nil {
		return nil, &memberError{"publicKey", err}
	}
	kp, err := protocol.ParsePrivateKey(id.PrivateKey)
	if err != nil {
		// The parse error never contains the key itself.
		return nil, &memberError{"privateKey", err}
	}
	if kp.PublicKey() != pub {
		return nil, &memberError{"publicKey", errors.New("does not belong to identity.privateKey")}
	}
	return id, nil
}

func parsePeer(key string, data json.RawMessage) (*Peer, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	p := &Peer{Key: key, raw: obj}
	if p.PublicKey, err = requiredString(obj, "publicKey"); err != nil {
		return nil, err
	}
	if _, err := protocol.ParsePublicKey(p.PublicKey); err != nil {
		return nil, &memberError{"publicKey", err}
	}
	if p.Name, err = optionalString(obj, "name"); err != nil {
		return nil, err
	}
	// The earlier implementation takes a member name other than the key as the peer's name.
	if p.Name == "" && key != p.PublicKey {
		p.Name = key
	}
	if p.URL, err = optionalString(obj, "url"); err != nil {
		return nil, err
	}
	if p.Token, err = optionalString(obj, "token"); err != nil {
		return nil, err
	}
	if p.Addrs, err = stringList(obj, "addrs"); err != nil {
		return nil, &memberError{"addrs", err}
	}
	return p, nil
}

func parseRelay(data json.RawMessage) (*Relay, error) {
	var url string
	if json.Unmarshal(data, &url) == nil {
		return &Relay{URL: url, wasString: true}, nil
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("expected a URL string or an object: %w", err)
	}
	r := &Relay{raw: obj}
	if r.URL, err = requiredString(obj, "url"); err != nil {
		return nil, err
	}
	if r.Name, err = optionalString(obj, "name"); err != nil {
		return nil, err
	}
	if r.PublicKey, err = optionalString(obj, "publicKey"); err != nil {
		return nil, err
	}
	if v, ok := obj.get("autoConnect"); ok && !isNull(v) {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, &memberError{"autoConnect", fmt.Errorf("expected a boolean, found %s", jsonKind(v))}
		}
		r.AutoConnect = &b
	}
	if v, ok := obj.get("reconnectMaxMs"); ok && !isNull(v) {
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, &memberError{"reconnectMaxMs", fmt.Errorf("expected milliseconds as a number, found %s", jsonKind(v))}
		}
		r.ReconnectMaxMs = &f
	}
	return r, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

func requiredString(obj object, key string) (string, error) {
	v, ok := obj.get(key)
	if !ok || isNull(v) {
		return "", &memberError{key, errors.New("missing")}
	}
	s, err := optionalString(obj, key)
	if err == nil && s == "" {
		return "", &memberError{key, errors.New("empty")}
	}
	return s, err
}

func optionalString(obj object, key string) (string, error) {
	v, ok := obj.get(key)
	if !ok || isNull(v) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", &memberError{key, fmt.Errorf("expected a string, found %s", jsonKind(v))}
	}
	return s, nil
}

func stringList(obj object, key string) ([]string, error) {
	v, ok := obj.get(key)
	if !ok || isNull(v) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("expected a list of strings, found %s", jsonKind(v))
	}
	return list, nil
}

// checkDuplicates rejects two entries for one public key, which would make references ambiguous
// in a way no command can fix.
func (c *Config) checkDuplicates() error {
	seen := make(map[protocol.PublicKey]string, len(c.Peers))
	for _, p := range c.Peers {
		k, _ := protocol.ParsePublicKey(p.PublicKey)
		if other, dup := seen[k]; dup {
			return fmt.Errorf("entries %q and %q have the same public key", other, p.Key)
		}
		seen[k] = p.Key
	}
	return nil
}

// Marshal returns the file text: JSON indented by two spaces, members in their original order,
// unknown members kept.
func (c *Config) Marshal() ([]byte, error) {
	top := append(object(nil), c.raw...)
	setOrRemove(&top, "identity", c.Identity != nil, func() json.RawMessage { return c.Identity.marshal() })
	peers := object{}
	for _, p := range c.Peers {
		peers = append(peers, member{Key: p.Key, Value: p.marshal()})
	}
	top.set("peers", mustMarshalObject(peers))
	setOrRemove(&top, "relay", c.Relay != nil, func() json.RawMessage { return c.Relay.marshal() })
	setOrRemove(&top, "listen", len(c.Listen) > 0, func() json.RawMessage { return mustMarshal(c.Listen) })
	setOrRemove(&top, "bootstrap", len(c.Bootstrap) > 0, func() json.RawMessage { return mustMarshal(c.Bootstrap) })
	compact, err := top.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func setOrRemove(o *object, key string, present bool, value func() json.RawMessage) {
	if present {
		o.set(key, value())
	} else {
		o.remove(key)
	}
}

func mustMarshalObject(o object) json.RawMessage {
	data, err := o.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("config: marshal object: %v", err))
	}
	return data
}

func setString(o *object, key, value string) {
	setOrRemove(o, key, value != "", func() json.RawMessage { return mustMarshal(value) })
}

func (id *Identity) marshal() json.RawMessage {
	o := append(object(nil), id.raw...)
	o.set("publicKey", mustMarshal(id.PublicKey))
	o.set("privateKey", mustMarshal(id.PrivateKey))
	setString(&o, "name", id.Name)
	return mustMarshalObject(o)
}

func (p *Peer) marshal() json.RawMessage {
	o := append(object(nil), p.raw...)
	o.set("publicKey", mustMarshal(p.PublicKey))
	// A name equal to a legacy member name came from that member name and is written back
	// only when the file had it.
	if _, had := p.raw.get("name"); had || p.Name != p.Key {
		setString(&o, "name", p.Name)
	}
	setString(&o, "url", p.URL)
	setString(&o, "token", p.Token)
	setOrRemove(&o, "addrs", len(p.Addrs) > 0, func() json.RawMessage { return mustMarshal(p.Addrs) })
	return mustMarshalObject(o)
}

func (r *Relay) marshal() json.RawMessage {
	if r.wasString && r.AutoConnect == nil && r.Name == "" && r.ReconnectMaxMs == nil && r.PublicKey == "" {
		return mustMarshal(r.URL)
	}
	o := append(object(nil), r.raw...)
	o.set("url", mustMarshal(r.URL))
	setOrRemove(&o, "autoConnect", r.AutoConnect != nil, func() json.RawMessage { return mustMarshal(*r.AutoConnect) })
	setString(&o, "name", r.Name)
	setOrRemove(&o, "reconnectMaxMs", r.ReconnectMaxMs != nil, func() json.RawMessage { return mustMarshal(*r.ReconnectMaxMs) })
	setString(&o, "publicKey", r.PublicKey)
	return mustMarshalObject(o)
}

// KeyPair parses the identity. It fails when the config has none.
func (c *Config) KeyPair() (*protocol.KeyPair, error) {
	if c.Identity == nil {
		return nil, ErrNoIdentity
	}
	return protocol.ParsePrivateKey(c.Identity.PrivateKey)
}

// ErrNoIdentity is returned by KeyPair for a config without an identity.
var ErrNoIdentity = errors.New("the config has no identity; run `agora init` to create one")

// SetIdentity replaces the identity with k, keeping the display name.
func (c *Config) SetIdentity(k *protocol.KeyPair) {
	if c.Identity == nil {
		c.Identity = &Identity{}
	}
	c.Identity.PublicKey = k.PublicKey().String()
	c.Identity.PrivateKey = k.PrivateKeyHex()
}

// AutoConnectEnabled reports whether the relay should be connected at start; nil means true.
func (r *Relay) AutoConnectEnabled() bool { return r.AutoConnect == nil || *r.AutoConnect }
