package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"testing"
)

// addVectorSeeds adds every reference envelope to the fuzz corpus when the vectors are present.
func addVectorSeeds(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add(signedSeed(f))
	var cases []envelopeVector
	data, err := readVectorFile("envelopes.json")
	if err != nil || json.Unmarshal(data, &cases) != nil {
		return
	}
	for _, c := range cases {
		f.Add([]byte(c.JSON))
	}
}

func signedSeed(f *testing.F) []byte {
	e := mustEnvelope(f, mustKey(f, 1), t0, map[string]any{"n": 1.5, "s": "é"})
	data, _ := json.Marshal(e)
	return data
}

// FuzzVerify checks that arbitrary bytes never panic Verify and never verify unless the
// signature is a correct Ed25519 signature of the canonical form by `from`.
func FuzzVerify(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Verify(data, DefaultLimits())
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		sig, herr := hex.DecodeString(e.Signature)
		pk, perr := ParsePublicKey(e.From)
		if herr != nil || perr != nil || !ed25519.Verify(pk[:], e.Canonical(), sig) {
			t.Fatalf("Verify accepted an envelope that crypto/ed25519 rejects: %s", data)
		}
		// A verified envelope survives its own wire form unchanged.
		wire, _ := json.Marshal(e)
		again, err := Verify(wire, DefaultLimits())
		if err != nil || again.ID != e.ID {
			t.Fatalf("re-encoded envelope fails: %v", err)
		}
	})
}

// FuzzCanonical checks that the canonical form is a fixed point: decoding and re-encoding it
// gives the same bytes.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"\u2028"]}`, `1e21`, `"\ud83d\ude00"`, `{"\uff61":1,"😀":2}`, `-0.0`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data, DefaultMaxDepth)
		if err != nil {
			return
		}
		first := appendCanonical(nil, v)
		v2, err := decodeJSON(first, DefaultMaxDepth)
		if err != nil {
			t.Fatalf("canonical form %q does not decode: %v", first, err)
		}
		if second := appendCanonical(nil, v2); !bytes.Equal(first, second) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", first, second)
		}
		if !json.Valid(first) {
			t.Fatalf("canonical form is not valid JSON: %q", first)
		}
	})
}

// FuzzWebhook checks that DecodeWebhook never panics and that whatever it accepts round-trips.
func FuzzWebhook(f *testing.F) {
	e := mustEnvelope(f, mustKey(f, 1), t0, "x")
	text, _ := EncodeWebhook(e)
	f.Add(text)
	f.Add(WebhookPrefix)
	f.Add(WebhookPrefix + "aGVsbG8=")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := DecodeWebhook(text, DefaultLimits())
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		again, err := EncodeWebhook(got)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := DecodeWebhook(again, DefaultLimits()); err != nil || back.ID != got.ID {
			t.Fatalf("re-encoded webhook fails: %v", err)
		}
	})
}
