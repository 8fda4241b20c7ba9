package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

// vectorsDir returns ../shared/vectors beside the repository root. Under CI=true a missing
// folder fails the test; elsewhere the test is skipped with the path it tried.
func vectorsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "vectors")
	if _, err := os.Stat(filepath.Join(dir, "envelopes.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("reference vectors not found at %s: %v", dir, err)
		}
		t.Skipf("reference vectors not found at %s (set CI=true to make this an error)", dir)
	}
	return dir
}

func readVectors(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// strictReasons are the verdicts of this implementation on cases that the earlier one accepts
// although they are risky; the protocol package documents each reason.
var strictReasons = map[string]protocol.Reason{
	"strict_signature_trailing_garbage": protocol.ReasonSignatureMalformed,
	"strict_signature_odd_hex":          protocol.ReasonSignatureMalformed,
	"strict_from_uppercase":             protocol.ReasonInvalidSender,
	"strict_duplicate_keys":             protocol.ReasonDuplicateKey,
	"strict_payload_absent":             protocol.ReasonInvalidField,
	"strict_timestamp_string":           protocol.ReasonInvalidField,
	"strict_to_non_string":              protocol.ReasonInvalidRecipient,
	"strict_nesting_100":                protocol.ReasonTooDeep,
	"strict_lone_surrogate":             protocol.ReasonInvalidString,
	"strict_small_order_key":            protocol.ReasonWeakKey,
}

type envelopeCase struct {
	Name     string `json:"name"`
	JSON     string `json:"json"`
	Strict   string `json:"strict"`
	Expected struct {
		Valid  bool   `json:"valid"`
		Reason string `json:"reason"`
	} `json:"expected"`
}

func (c envelopeCase) want(t *testing.T) protocol.Reason {
	if c.Strict != "" {
		r, ok := strictReasons[c.Name]
		if !ok {
			t.Fatalf("strict case %s has no expected reason in this test", c.Name)
		}
		return r
	}
	switch {
	case c.Expected.Valid:
		return ""
	case c.Expected.Reason == "throws":
		return protocol.ReasonMalformedJSON
	default:
		return protocol.Reason(c.Expected.Reason)
	}
}

// checkVerdict runs verify on input in both output modes and checks exit code and reason.
func checkVerdict(t *testing.T, cfg, input string, want protocol.Reason) {
	t.Helper()
	r := runCLI(t, input, "--config", cfg, "--json", "verify")
	v := decodeJSON(t, r)
	if want == "" {
		if r.code != ExitOK || v["valid"] != true {
			t.Fatalf("want valid, got exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
	} else if r.code != ExitFailure || v["reason"] != string(want) {
		t.Fatalf("want %s and exit 1, got exit %d: %s %s", want, r.code, r.stdout, r.stderr)
	}
	human := runCLI(t, input, "--config", cfg, "decode", "-")
	if human.code != r.code {
		t.Fatalf("text mode exit %d, JSON mode exit %d", human.code, r.code)
	}
	prefix := "valid "
	if want != "" {
		prefix = "invalid " + string(want)
	}
	if !strings.HasPrefix(human.stdout, prefix) {
		t.Fatalf("text output %q does not start with %q", human.stdout, prefix)
	}
}

func TestVerifyEnvelopeVectors(t *testing.T) {
	var cases []envelopeCase
	readVectors(t, "envelopes.json", &cases)
	if len(cases) < 50 {
		t.Fatalf("only %d envelope cases read", len(cases))
	}
	isolate(t)
	cfg := newConfig(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { checkVerdict(t, cfg, c.JSON, c.want(t)) })
	}
}

func TestVerifyWebhookVectors(t *testing.T) {
	var cases []struct {
		Name     string `json:"name"`
		Message  string `json:"message"`
		Expected struct {
			OK     bool   `json:"ok"`
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"expected"`
	}
	readVectors(t, "webhook.json", &cases)
	var keys []struct {
		Name      string `json:"name"`
		PublicKey string `json:"publicKey"`
	}
	readVectors(t, "keys.json", &keys)
	isolate(t)
	cfg := newConfig(t)
	// The vectors' known senders are alice and bob.
	for _, k := range keys {
		if k.Name == "alice" || k.Name == "bob" {
			mustRun(t, "--config", cfg, "peers", "add", k.Name, "--pubkey", k.PublicKey)
		}
	}
	if len(cases) < 8 {
		t.Fatalf("only %d webhook cases read", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var want protocol.Reason
			if !c.Expected.OK {
				want = protocol.Reason(c.Expected.Reason)
			}
			checkVerdict(t, cfg, c.Message, want)
			if c.Expected.OK {
				r := runCLI(t, c.Message, "--config", cfg, "--json", "verify")
				if id := decodeJSON(t, r)["id"]; id != c.Expected.ID {
					t.Fatalf("id = %v, want %s", id, c.Expected.ID)
				}
			}
		})
	}
}

func TestVerifyAnySender(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	stranger := newKey(t)
	env, err := protocol.CreateEnvelope(stranger, "publish", nil, map[string]string{"text": "hi"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := protocol.EncodeWebhook(env)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdict(t, cfg, text, protocol.ReasonUnknownSender)
	r := runCLI(t, text, "--config", cfg, "verify", "--any-sender")
	if r.code != ExitOK || !strings.Contains(r.stdout, "id="+env.ID) {
		t.Fatalf("--any-sender: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// Envelope JSON has no known-sender rule.
	data, _ := json.Marshal(env)
	checkVerdict(t, cfg, string(data), "")
}

func TestVerifyFileAndSummary(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	k := newKey(t)
	mustRun(t, "--config", cfg, "peers", "add", "carol", "--pubkey", k.PublicKey().String())
	env, err := protocol.CreateEnvelope(k, "request", []string{k.PublicKey().String(), newKey(t).PublicKey().String()},
		map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(env)
	file := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "--config", cfg, "verify", file)
	want := "valid id=" + env.ID + " type=request from=carol@" + k.PublicKey().Short() + " to=2 time="
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("summary = %q, want prefix %q", r.stdout, want)
	}
}

func TestVerifyUnreadableInput(t *testing.T) {
	isolate(t)
	r := runCLI(t, "", "verify", filepath.Join(t.TempDir(), "missing.json"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "cannot read the input") {
		t.Fatalf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "verify", t.TempDir())
	if r.code != ExitUsage {
		t.Fatalf("directory: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVerifyOversizedInput(t *testing.T) {
	isolate(t)
	big := "{" + strings.Repeat(" ", 2<<20) + "}"
	r := runCLI(t, big, "--json", "verify")
	if r.code != ExitFailure || decodeJSON(t, r)["reason"] != string(protocol.ReasonTooLarge) {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestVerifyEscapesControlCharacters(t *testing.T) {
	isolate(t)
	k := newKey(t)
	env, err := protocol.CreateEnvelope(k, "x\x1b[2Jy", nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(env)
	r := runCLI(t, string(data), "verify")
	if r.code != ExitOK || strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, `type="x\x1b[2Jy"`) {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
}
