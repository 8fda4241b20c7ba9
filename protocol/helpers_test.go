package protocol

import (
	"bytes"
	"testing"
	"time"
)

// mustKey returns a deterministic key pair for seed byte n.
func mustKey(t testing.TB, n byte) *KeyPair {
	t.Helper()
	k, err := KeyPairFromSeed(bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustEnvelope signs an envelope from k to itself at time ts with the given payload.
func mustEnvelope(t testing.TB, k *KeyPair, ts time.Time, payload any) *Envelope {
	t.Helper()
	e, err := CreateEnvelope(k, "request", nil, payload, &CreateOptions{Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
