package protocol

import (
	"crypto/ed25519"
	"testing"
)

func TestSenderKeyCacheMatchesPlainVerify(t *testing.T) {
	k, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("message")
	sig := k.Sign(msg)
	cached := senderKeys.get(k.PublicKey())
	if !cached.verify(msg, sig) {
		t.Error("cached key rejects a valid signature")
	}
	if cached.verify([]byte("other"), sig) {
		t.Error("cached key accepts a signature of another message")
	}
	if cached.verify(msg, sig[:ed25519.SignatureSize-1]) {
		t.Error("cached key accepts a short signature")
	}
	if cached.smallOrder {
		t.Error("a generated key is marked small-order")
	}
	if senderKeys.get(k.PublicKey()) != cached {
		t.Error("second lookup decoded the key again")
	}
}

func TestSenderKeyCacheBadKeys(t *testing.T) {
	var identity PublicKey // the encoding of y = 0 is a small-order point
	identity[0] = 1
	if !senderKeys.get(identity).smallOrder {
		t.Error("the identity point is not marked small-order")
	}
	var notAPoint PublicKey
	for i := range notAPoint {
		notAPoint[i] = 0xff
	}
	k := senderKeys.get(notAPoint)
	if k.verify([]byte("m"), make([]byte, ed25519.SignatureSize)) {
		t.Error("a key that is no curve point verifies a signature")
	}
}

func TestSenderKeyCacheStaysBounded(t *testing.T) {
	c := &senderKeyCache{keys: make(map[PublicKey]*senderKey)}
	for i := range senderKeyCacheSize + 100 {
		var pk PublicKey
		pk[0], pk[1], pk[2] = byte(i), byte(i>>8), 0x42
		c.get(pk)
	}
	if n := len(c.keys); n != senderKeyCacheSize {
		t.Errorf("cache holds %d keys, want the bound %d", n, senderKeyCacheSize)
	}
}
