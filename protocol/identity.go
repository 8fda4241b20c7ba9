package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// DER prefixes of the agora hex key forms: SubjectPublicKeyInfo for public keys and PKCS#8 for
// private keys, both for the Ed25519 OID 1.3.101.112.
const (
	spkiPrefix  = "302a300506032b6570032100"
	pkcs8Prefix = "302e020100300506032b657004220420"
)

// PublicKeyHexLen is the length of a public key in agora SPKI hex form.
const PublicKeyHexLen = len(spkiPrefix) + 2*ed25519.PublicKeySize

// verifyOptions makes curve25519-voi return the same verdicts as crypto/ed25519: cofactorless
// verification, canonical S required, small-order A and R allowed.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// PublicKey is a raw Ed25519 public key. It is comparable and usable as a map key.
type PublicKey [ed25519.PublicKeySize]byte

// ParsePublicKey parses a public key in agora SPKI DER hex (either case) or as a libp2p peer ID.
func ParsePublicKey(s string) (PublicKey, error) {
	if len(s) == PublicKeyHexLen {
		return parseSPKIHex(s)
	}
	id, err := peer.Decode(s)
	if err == nil {
		return PublicKeyFromPeerID(id)
	}
	if strings.HasPrefix(s, "12D3KooW") || strings.HasPrefix(s, "Qm") || strings.HasPrefix(s, "16U") {
		return PublicKey{}, fmt.Errorf("invalid peer ID %q: %w", abbreviate(s), err)
	}
	return parseSPKIHex(s)
}

func parseSPKIHex(s string) (PublicKey, error) {
	var pk PublicKey
	if len(s) != PublicKeyHexLen {
		return pk, fmt.Errorf("invalid public key %q: length %d, expected %d hex characters (SPKI DER) or a peer ID",
			abbreviate(s), len(s), PublicKeyHexLen)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return pk, fmt.Errorf("invalid public key %q: not hex: %w", abbreviate(s), err)
	}
	if !strings.EqualFold(s[:len(spkiPrefix)], spkiPrefix) {
		return pk, fmt.Errorf("invalid public key %q: wrong prefix, not an Ed25519 SPKI key (expected %s…)",
			abbreviate(s), spkiPrefix)
	}
	copy(pk[:], raw[len(spkiPrefix)/2:])
	return pk, nil
}

// PublicKeyFromPeerID extracts the Ed25519 key that a peer ID embeds.
func PublicKeyFromPeerID(id peer.ID) (PublicKey, error) {
	k, err := id.ExtractPublicKey()
	if err != nil {
		return PublicKey{}, fmt.Errorf("peer ID %s: no embedded public key: %w", id, err)
	}
	return PublicKeyFromLibp2p(k)
}

// PublicKeyFromLibp2p converts a libp2p public key, which must be Ed25519.
func PublicKeyFromLibp2p(k crypto.PubKey) (PublicKey, error) {
	var pk PublicKey
	if k.Type() != crypto.Ed25519 {
		return pk, fmt.Errorf("public key of type %s is not Ed25519", k.Type())
	}
	raw, err := k.Raw()
	if err != nil {
		return pk, fmt.Errorf("read libp2p public key: %w", err)
	}
	if len(raw) != len(pk) {
		return pk, fmt.Errorf("ed25519 public key has %d bytes, expected %d", len(raw), len(pk))
	}
	copy(pk[:], raw)
	return pk, nil
}

// String returns the agora wire form: lowercase SPKI DER hex.
func (p PublicKey) String() string {
	return spkiPrefix + hex.EncodeToString(p[:])
}

// Short returns the last 8 hex characters, used in `name@abcd1234` references.
func (p PublicKey) Short() string {
	s := p.String()
	return s[len(s)-8:]
}

// Libp2p returns the key as a libp2p public key.
func (p PublicKey) Libp2p() crypto.PubKey {
	k, err := crypto.UnmarshalEd25519PublicKey(p[:])
	if err != nil {
		// Unreachable: any 32 bytes form an Ed25519 public key for libp2p.
		panic(fmt.Sprintf("unmarshal ed25519 public key: %v", err))
	}
	return k
}

// PeerID returns the libp2p peer ID of the key (an identity multihash, `12D3KooW…`).
func (p PublicKey) PeerID() peer.ID {
	id, err := peer.IDFromPublicKey(p.Libp2p())
	if err != nil {
		panic(fmt.Sprintf("peer ID from ed25519 key: %v", err))
	}
	return id
}

// Verify reports whether sig is a valid Ed25519 signature of msg by p. Its verdicts equal
// crypto/ed25519.Verify's; curve25519-voi computes them faster.
func (p PublicKey) Verify(msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(p[:]), msg, sig, verifyOptions)
}

// KeyPair is an Ed25519 identity: the agent's agora key and its libp2p peer identity.
type KeyPair struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// GenerateKeyPair creates a key pair from the operating system's random source.
func GenerateKeyPair() (*KeyPair, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("read random seed: %w", err)
	}
	return KeyPairFromSeed(seed)
}

// KeyPairFromSeed derives the key pair of a 32-byte Ed25519 seed.
func KeyPairFromSeed(seed []byte) (*KeyPair, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("ed25519 seed has %d bytes, expected %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k := &KeyPair{priv: priv}
	copy(k.pub[:], priv[ed25519.SeedSize:])
	return k, nil
}

// ParsePrivateKey parses a private key in agora PKCS#8 DER hex form.
func ParsePrivateKey(s string) (*KeyPair, error) {
	s = strings.TrimSpace(s)
	if want := len(pkcs8Prefix) + 2*ed25519.SeedSize; len(s) != want {
		return nil, fmt.Errorf("invalid private key: length %d, expected %d hex characters (PKCS#8 DER)", len(s), want)
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid private key: not hex: %w", err)
	}
	if !strings.EqualFold(s[:len(pkcs8Prefix)], pkcs8Prefix) {
		return nil, fmt.Errorf("invalid private key: wrong prefix, not an Ed25519 PKCS#8 key (expected %s…)", pkcs8Prefix)
	}
	return KeyPairFromSeed(raw[len(pkcs8Prefix)/2:])
}

// KeyPairFromLibp2p converts a libp2p private key, which must be Ed25519.
func KeyPairFromLibp2p(k crypto.PrivKey) (*KeyPair, error) {
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("private key of type %s is not Ed25519", k.Type())
	}
	raw, err := k.Raw()
	if err != nil {
		return nil, fmt.Errorf("read libp2p private key: %w", err)
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ed25519 private key has %d bytes, expected %d", len(raw), ed25519.PrivateKeySize)
	}
	return KeyPairFromSeed(raw[:ed25519.SeedSize])
}

// PublicKey returns the public half.
func (k *KeyPair) PublicKey() PublicKey { return k.pub }

// PrivateKeyHex returns the agora private key form: PKCS#8 DER hex.
func (k *KeyPair) PrivateKeyHex() string {
	return pkcs8Prefix + hex.EncodeToString(k.priv.Seed())
}

// Sign returns the Ed25519 signature of msg.
func (k *KeyPair) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Libp2p returns the key as a libp2p private key, for the libp2p host identity.
func (k *KeyPair) Libp2p() crypto.PrivKey {
	priv, err := crypto.UnmarshalEd25519PrivateKey(k.priv)
	if err != nil {
		panic(fmt.Sprintf("unmarshal ed25519 private key: %v", err))
	}
	return priv
}

// PeerID returns the libp2p peer ID of the key pair.
func (k *KeyPair) PeerID() peer.ID { return k.pub.PeerID() }

// abbreviate shortens hostile input before it goes into an error message.
func abbreviate(s string) string {
	const maxLen = 80
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "…"
}
