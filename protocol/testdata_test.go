package protocol

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/cases.json from the generator")

// ownCase is a case of ours for what the reference vectors do not cover.
type ownCase struct {
	Name   string `json:"name"`
	JSON   string `json:"json"`
	Reason Reason `json:"reason"` // "" when valid
}

const casesFile = "testdata/cases.json"

// generateCases builds the cases with this package's own signer.
func generateCases(t *testing.T) []ownCase {
	alice, bob := mustKey(t, 1), mustKey(t, 2)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sign := func(to []string, payload any) string {
		e, err := CreateEnvelope(alice, "request", to, payload, &CreateOptions{Timestamp: ts})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(e)
		return string(data)
	}
	b := bob.PublicKey().String()
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = mustKey(t, byte(100+i)).PublicKey().String()
	}
	base := sign([]string{b}, "x")
	return []ownCase{
		{"recipients_100", sign(hundred, "x"), ""},
		{"recipients_101", sign(append(hundred, b), "x"), ReasonTooManyRecipients},
		{"nesting_63", sign([]string{b}, json.RawMessage(strings.Repeat("[", 63)+strings.Repeat("]", 63))), ""},
		{"nesting_64", sign([]string{b}, json.RawMessage(strings.Repeat("[", 64)+strings.Repeat("]", 64))), ReasonTooDeep},
		{"recipient_not_a_key", sign([]string{"bob"}, "x"), ReasonInvalidRecipient},
		{"recipient_peer_id", sign([]string{bob.PeerID().String()}, "x"), ReasonInvalidRecipient},
		{"unicode_payload", sign([]string{b}, map[string]any{"😀": "\u2028\u0000é", "\uff61": 1e21}), ""},
		{"type_number", strings.Replace(base, `"type":"request"`, `"type":7`, 1), ReasonInvalidField},
		{"type_empty", strings.Replace(base, `"type":"request"`, `"type":""`, 1), ReasonInvalidField},
		{"timestamp_huge", strings.Replace(base, `"timestamp":1767225600000`, `"timestamp":1e300`, 1), ReasonInvalidField},
		{"in_reply_to_number", strings.Replace(base, `"payload"`, `"inReplyTo":5,"payload"`, 1), ReasonInvalidField},
		{"nested_duplicate_key", strings.Replace(base, `"payload":"x"`, `"payload":{"a":{"b":1,"b":2}}`, 1), ReasonDuplicateKey},
		{"lone_low_surrogate", strings.Replace(base, `"payload":"x"`, `"payload":"\udc00"`, 1), ReasonInvalidString},
		{"id_number", strings.Replace(base, `"id":"`, `"id":1,"x":"`, 1), ReasonIDMismatch},
		{"signature_number", strings.Replace(base, `"signature":"`, `"signature":1,"x":"`, 1), ReasonSignatureInvalid},
	}
}

func TestOwnCases(t *testing.T) {
	if *update {
		data, _ := json.MarshalIndent(generateCases(t), "", "  ")
		if err := os.WriteFile(filepath.FromSlash(casesFile), append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.FromSlash(casesFile))
	if err != nil {
		t.Fatalf("read %s (run go test -run TestOwnCases -update to create it): %v", casesFile, err)
	}
	var cases []ownCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d cases in %s", len(cases), casesFile)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, err := Verify([]byte(c.JSON), DefaultLimits())
			if got := ReasonOf(err); got != c.Reason {
				t.Fatalf("reason = %q (err %v), want %q", got, err, c.Reason)
			}
		})
	}
}
