package protocol

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// senderKeyCacheSize bounds the cache of decoded sender keys. An entry takes about 300 bytes,
// so a full cache takes about 1.2 MiB.
const senderKeyCacheSize = 4096

// senderKey is the decoded form of an envelope sender's public key. Decoding costs two point
// decompressions (about 8 µs), which a relay or node receiving many envelopes from the same
// senders would otherwise pay for every envelope.
type senderKey struct {
	expanded   *voi.ExpandedPublicKey // nil when the key is no curve point
	smallOrder bool
}

func newSenderKey(pk PublicKey) *senderKey {
	k := &senderKey{smallOrder: isSmallOrder(pk)}
	// An error means that the key does not decompress; every signature check then fails, as
	// it does in crypto/ed25519.
	k.expanded, _ = voi.NewExpandedPublicKey(voi.PublicKey(pk[:]))
	return k
}

// verify returns crypto/ed25519.Verify's verdict on sig, as PublicKey.Verify does.
func (k *senderKey) verify(msg, sig []byte) bool {
	if k.expanded == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyExpandedWithOptions(k.expanded, msg, sig, verifyOptions)
}

// senderKeyCache maps public keys to their decoded form. When full, it evicts an arbitrary
// entry, so that a flood of new keys costs only their decoding and no memory beyond the bound.
type senderKeyCache struct {
	mu   sync.Mutex
	keys map[PublicKey]*senderKey
}

var senderKeys = &senderKeyCache{keys: make(map[PublicKey]*senderKey)}

func (c *senderKeyCache) get(pk PublicKey) *senderKey {
	c.mu.Lock()
	k, ok := c.keys[pk]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = newSenderKey(pk)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= senderKeyCacheSize {
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[pk] = k
	return k
}
