package protocol

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

type keyVector struct {
	Name         string `json:"name"`
	Seed         string `json:"seed"`
	PrivateKey   string `json:"privateKey"`
	PublicKey    string `json:"publicKey"`
	RawPublicKey string `json:"rawPublicKey"`
	PeerID       string `json:"peerId"`
}

type envelopeVector struct {
	Name      string `json:"name"`
	JSON      string `json:"json"`
	Canonical string `json:"canonical"`
	Key       string `json:"key"`
	Strict    string `json:"strict"`
	Expected  struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
	} `json:"expected"`
}

type webhookVector struct {
	Name     string `json:"name"`
	Message  string `json:"message"`
	Expected struct {
		OK     bool   `json:"ok"`
		ID     string `json:"id"`
		Reason string `json:"reason"`
	} `json:"expected"`
}

// vectorsDir returns the shared vectors folder beside the repository root. Under CI=true a
// missing folder fails the test; elsewhere the test is skipped with the path it tried.
func vectorsDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "vectors")
	if _, err := os.Stat(filepath.Join(dir, "envelopes.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("reference vectors not found at %s: %v", dir, err)
		}
		t.Skipf("reference vectors not found at %s (set CI=true to make this an error)", dir)
	}
	return dir
}

// readVectorFile reads a vector file without failing, for fuzz seeds.
func readVectorFile(name string) ([]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	return os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "shared", "vectors", name))
}

func readVectors(t testing.TB, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

func vectorKeys(t testing.TB) map[string]keyVector {
	var keys []keyVector
	readVectors(t, "keys.json", &keys)
	byName := make(map[string]keyVector, len(keys))
	for _, k := range keys {
		byName[k.Name] = k
	}
	return byName
}

// strictReasons pins the verdict of each case that the earlier implementation accepts but that
// this implementation rejects. docs/security.md explains each reason.
var strictReasons = map[string]Reason{
	"strict_signature_trailing_garbage": ReasonSignatureMalformed,
	"strict_signature_odd_hex":          ReasonSignatureMalformed,
	"strict_from_uppercase":             ReasonInvalidSender,
	"strict_duplicate_keys":             ReasonDuplicateKey,
	"strict_payload_absent":             ReasonInvalidField,
	"strict_timestamp_string":           ReasonInvalidField,
	"strict_to_non_string":              ReasonInvalidRecipient,
	"strict_nesting_100":                ReasonTooDeep,
	"strict_lone_surrogate":             ReasonInvalidString,
	"strict_small_order_key":            ReasonWeakKey,
}

func expectedReason(t *testing.T, v envelopeVector) Reason {
	t.Helper()
	if v.Strict != "" {
		r, ok := strictReasons[v.Name]
		if !ok {
			t.Fatalf("strict case %s has no pinned verdict", v.Name)
		}
		return r
	}
	if v.Expected.Valid {
		return ""
	}
	if v.Expected.Reason == "throws" {
		return ReasonMalformedJSON
	}
	return Reason(v.Expected.Reason)
}

func TestEnvelopeVectors(t *testing.T) {
	var cases []envelopeVector
	readVectors(t, "envelopes.json", &cases)
	keys := vectorKeys(t)
	if len(cases) < 50 {
		t.Fatalf("only %d envelope vectors read", len(cases))
	}
	for _, v := range cases {
		t.Run(v.Name, func(t *testing.T) {
			want := expectedReason(t, v)
			env, err := Verify([]byte(v.JSON), DefaultLimits())
			if got := ReasonOf(err); got != want {
				t.Fatalf("Verify reason = %q (err %v), want %q", got, err, want)
			}
			if want == "" && env == nil {
				t.Fatal("Verify returned no envelope for a valid case")
			}
			if v.Canonical == "" {
				return
			}
			checkCanonical(t, v, keys)
		})
	}
}

// checkCanonical compares our canonical form with the vector's and re-signs it with the key.
func checkCanonical(t *testing.T, v envelopeVector, keys map[string]keyVector) {
	t.Helper()
	e, canonical, err := parse([]byte(v.JSON), Limits{MaxDepth: 1000})
	if err != nil {
		// Strict cases that parse rejects have no canonical form of ours.
		if v.Strict != "" {
			return
		}
		t.Fatalf("parse: %v", err)
	}
	if string(canonical) != v.Canonical {
		t.Fatalf("canonical form differs\n got: %s\nwant: %s", canonical, v.Canonical)
	}
	if v.Key == "" {
		return
	}
	kv, ok := keys[v.Key]
	if !ok {
		t.Fatalf("unknown key %q", v.Key)
	}
	k, err := ParsePrivateKey(kv.PrivateKey)
	if err != nil {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	sig := hex.EncodeToString(k.Sign(canonical))
	if v.Name != "signature_uppercase" && sig != e.Signature {
		t.Fatalf("signature = %s, want %s", sig, e.Signature)
	}
	recreated, err := CreateEnvelope(k, e.Type, e.To, e.Payload, &CreateOptions{InReplyTo: e.InReplyTo, Timestamp: e.Time()})
	if err != nil {
		t.Fatalf("CreateEnvelope: %v", err)
	}
	if e.HasInReplyTo && e.InReplyTo == "" || e.Timestamp != float64(int64(e.Timestamp)) {
		return // CreateEnvelope writes neither a null inReplyTo nor a fractional timestamp.
	}
	if recreated.ID != e.ID {
		t.Fatalf("CreateEnvelope id = %s, want %s", recreated.ID, e.ID)
	}
	if v.Name != "signature_uppercase" && recreated.Signature != e.Signature {
		t.Fatalf("CreateEnvelope signature = %s, want %s", recreated.Signature, e.Signature)
	}
}
