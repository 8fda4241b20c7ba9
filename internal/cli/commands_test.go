package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

func TestInitIdempotent(t *testing.T) {
	home := isolate(t)
	first := decodeJSON(t, mustRun(t, "--json", "init"))
	if first["status"] != "initialized" {
		t.Fatalf("first init: %v", first)
	}
	path := filepath.Join(home, ".config", "agora", "config.json")
	if first["configPath"] != path {
		t.Fatalf("configPath = %v, want %s", first["configPath"], path)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", info.Mode().Perm())
	}
	second := decodeJSON(t, mustRun(t, "--json", "init"))
	if second["status"] != "already_initialized" || second["publicKey"] != first["publicKey"] {
		t.Fatalf("second init: %v", second)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("second init rewrote the config")
	}
}

func TestWhoamiMatchesInit(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	who := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "whoami"))
	key, err := protocol.ParsePublicKey(who["publicKey"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if who["peerId"] != key.PeerID().String() || who["reference"] != "@"+key.Short() {
		t.Fatalf("whoami = %v", who)
	}
	text := mustRun(t, "--config", cfg, "whoami").stdout
	if !strings.Contains(text, key.String()) || !strings.Contains(text, key.PeerID().String()) {
		t.Fatalf("text whoami = %q", text)
	}
}

func TestCommandsWithoutConfig(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{{"whoami"}, {"status"}, {"peers"}, {"send", "x", "hi"}, {"config", "export"}} {
		r := runCLI(t, "", args...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "agora init") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestKeygen(t *testing.T) {
	isolate(t)
	v := decodeJSON(t, mustRun(t, "--json", "keygen"))
	k, err := protocol.ParsePrivateKey(v["privateKey"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if k.PublicKey().String() != v["publicKey"] || k.PeerID().String() != v["peerId"] {
		t.Fatalf("keygen output is inconsistent: %v", v)
	}
	other := decodeJSON(t, mustRun(t, "--json", "keygen"))
	if other["publicKey"] == v["publicKey"] {
		t.Fatal("two keygen runs printed the same key")
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".config")); err == nil {
		t.Fatal("keygen wrote a config file")
	}
}

func TestStatus(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	mustRun(t, "--config", cfg, "peers", "add", "bob", "--pubkey", newKey(t).PublicKey().String())
	v := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "status"))
	if v["configPath"] != cfg || v["peerCount"] != float64(1) || v["relay"] != "" {
		t.Fatalf("status = %v", v)
	}
	if id, ok := v["identity"].(map[string]any); !ok || id["peerId"] == "" {
		t.Fatalf("status identity = %v", v["identity"])
	}
	text := mustRun(t, "--config", cfg, "status").stdout
	if !strings.Contains(text, "relay:      not configured") || !strings.Contains(text, "peers:      1") {
		t.Fatalf("text status = %q", text)
	}
}

func TestGlobalFlagErrors(t *testing.T) {
	isolate(t)
	cases := [][]string{
		{"--log-level", "loud", "keygen"},
		{"--log-format", "xml", "keygen"},
		{"--config", "/tmp/a.json", "--profile", "p", "status"},
		{"--profile", "../escape", "status"},
		{"nosuchcommand"},
		{"keygen", "--nosuchflag"},
		{"whoami", "extra"},
	}
	for _, args := range cases {
		if r := runCLI(t, "", args...); r.code != ExitUsage || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestHelpDescribesFlags(t *testing.T) {
	isolate(t)
	r := mustRun(t, "help")
	for _, want := range []string{"--config", "--profile", "--json", "--log-level", "verify", "send"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	send := mustRun(t, "send", "--help").stdout
	for _, want := range []string{"--timeout", "such as 10s", "--bootstrap", "repeatable", "--relay-only"} {
		if !strings.Contains(send, want) {
			t.Errorf("send --help lacks %q", want)
		}
	}
}

func TestLogsGoToStderr(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "--config", cfg, "--json", "--log-format", "json", "whoami")
	if !strings.Contains(r.stderr, `"level":"WARN"`) || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("no JSON warning about the mode on stderr: %q", r.stderr)
	}
	decodeJSON(t, r)
	quiet := mustRun(t, "--config", cfg, "--log-level", "error", "whoami")
	if quiet.stderr != "" {
		t.Fatalf("--log-level error still logged: %q", quiet.stderr)
	}
}

func TestUnparseableConfigUntouched(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "config.json")
	broken := `{"identity": {"publicKey": 42, "privateKey": "x"}, "peers": {}}`
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init"}, {"whoami"}, {"peers", "add", "bob", "--pubkey", newKey(t).PublicKey().String()},
		{"config", "import", path},
	} {
		r := runCLI(t, "", append([]string{"--config", path}, args...)...)
		if r.code == ExitOK {
			t.Errorf("%v succeeded on a broken config", args)
		}
		if !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "identity.publicKey") {
			t.Errorf("%v: error does not name the file and field: %q", args, r.stderr)
		}
		data, _ := os.ReadFile(path)
		if string(data) != broken {
			t.Fatalf("%v rewrote the broken config", args)
		}
	}
}

func TestProfiles(t *testing.T) {
	home := isolate(t)
	mustRun(t, "init")
	mustRun(t, "--profile", "work", "init")
	mustRun(t, "--as", "alpha", "init")
	v := decodeJSON(t, mustRun(t, "--json", "config", "profiles"))
	got, _ := v["profiles"].([]any)
	if len(got) != 3 || got[0] != "default" || got[1] != "alpha" || got[2] != "work" {
		t.Fatalf("profiles = %v", v["profiles"])
	}
	work := decodeJSON(t, mustRun(t, "--as", "work", "--json", "whoami"))
	want := filepath.Join(home, ".config", "agora", "profiles", "work", "config.json")
	if work["configPath"] != want {
		t.Fatalf("profile path = %v, want %s", work["configPath"], want)
	}
	def := decodeJSON(t, mustRun(t, "--json", "whoami"))
	if def["publicKey"] == work["publicKey"] {
		t.Fatal("profiles share one identity")
	}
	// AGORA_CONFIG chooses the file when no flag does.
	t.Setenv(config.EnvConfig, want)
	if env := decodeJSON(t, mustRun(t, "--json", "whoami")); env["publicKey"] != work["publicKey"] {
		t.Fatal("AGORA_CONFIG ignored")
	}
}
