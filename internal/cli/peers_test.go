package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPeersAddListRemove(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t)
	added := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "peers", "add", "bob",
		"--pubkey", bob.PeerID().String(), "--url", "http://127.0.0.1:1/hooks", "--token", "secret",
		"--addr", "/ip4/127.0.0.1/tcp/4001"))
	if added["status"] != "added" || added["publicKey"] != bob.PublicKey().String() {
		t.Fatalf("add = %v", added)
	}
	c := loadConfig(t, cfg)
	if len(c.Peers) != 1 || c.Peers[0].Key != bob.PublicKey().String() || c.Peers[0].Token != "secret" {
		t.Fatalf("stored peer = %+v", c.Peers[0])
	}
	list := mustRun(t, "--config", cfg, "peers", "list").stdout
	if !strings.Contains(list, "bob@"+bob.PublicKey().Short()) || !strings.Contains(list, "addr=/ip4/127.0.0.1/tcp/4001") {
		t.Fatalf("list = %q", list)
	}
	if strings.Contains(list, "secret") {
		t.Fatal("peers list prints the token")
	}
	var listed struct{ Peers []peerView }
	if err := json.Unmarshal([]byte(mustRun(t, "--config", cfg, "--json", "peers").stdout), &listed); err != nil || len(listed.Peers) != 1 {
		t.Fatalf("JSON list: %v %+v", err, listed)
	}
	updated := decodeJSON(t, mustRun(t, "--config", cfg, "--json", "peers", "add", "robert", "--pubkey", bob.PublicKey().String()))
	if updated["status"] != "updated" || len(loadConfig(t, cfg).Peers) != 1 {
		t.Fatalf("update = %v", updated)
	}
	mustRun(t, "--config", cfg, "peers", "remove", "@"+bob.PublicKey().Short())
	if n := len(loadConfig(t, cfg).Peers); n != 0 {
		t.Fatalf("%d peers after remove", n)
	}
	r := runCLI(t, "", "--config", cfg, "peers", "remove", "robert")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "no peers are configured") {
		t.Fatalf("removing a missing peer: exit %d, %q", r.code, r.stderr)
	}
}

func TestPeersAddErrors(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	bob := newKey(t)
	other := newKey(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bob"}, "pubkey"},
		{[]string{"bob", "--pubkey", "abc"}, "invalid --pubkey"},
		{[]string{"b@b", "--pubkey", bob.PublicKey().String()}, "invalid peer name"},
		{[]string{bob.PublicKey().String(), "--pubkey", bob.PublicKey().String()}, "invalid peer name"},
		{[]string{"bob", "--pubkey", bob.PublicKey().String(), "--token", "t"}, "--token needs --url"},
		{[]string{"bob", "--pubkey", bob.PublicKey().String(), "--url", "ftp://x"}, "invalid --url"},
		{[]string{"bob", "--pubkey", bob.PublicKey().String(), "--addr", "not-an-addr"}, "invalid --addr"},
		{[]string{"bob", "--pubkey", bob.PublicKey().String(), "--addr", "/ip4/127.0.0.1/tcp/1/p2p/" + other.PeerID().String()}, "names peer"},
	}
	for _, tc := range cases {
		r := runCLI(t, "", append([]string{"--config", cfg, "peers", "add"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if n := len(loadConfig(t, cfg).Peers); n != 0 {
		t.Fatalf("failed adds stored %d peers", n)
	}
}

func TestPeerReferenceAmbiguity(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	k1, k2 := newKey(t), newKey(t)
	mustRun(t, "--config", cfg, "peers", "add", "twin", "--pubkey", k1.PublicKey().String())
	mustRun(t, "--config", cfg, "peers", "add", "twin", "--pubkey", k2.PublicKey().String())
	r := runCLI(t, "", "--config", cfg, "peers", "remove", "twin")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "ambiguous") ||
		!strings.Contains(r.stderr, "twin@"+k1.PublicKey().Short()) || !strings.Contains(r.stderr, "twin@"+k2.PublicKey().Short()) {
		t.Fatalf("ambiguous remove: exit %d, %q", r.code, r.stderr)
	}
	r = runCLI(t, "", "--config", cfg, "send", "nobody", "hi")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `unknown peer "nobody"`) || !strings.Contains(r.stderr, "twin@") {
		t.Fatalf("unknown send: exit %d, %q", r.code, r.stderr)
	}
	mustRun(t, "--config", cfg, "peers", "remove", "twin@"+k1.PublicKey().Short())
	c := loadConfig(t, cfg)
	if len(c.Peers) != 1 || c.Peers[0].PublicKey != k2.PublicKey().String() {
		t.Fatalf("wrong peer removed: %+v", c.Peers)
	}
	mustRun(t, "--config", cfg, "peers", "remove", "twin")
}

func TestPeersCopy(t *testing.T) {
	isolate(t)
	mustRun(t, "init")
	bob := newKey(t)
	mustRun(t, "peers", "add", "bob", "--pubkey", bob.PublicKey().String(), "--url", "http://127.0.0.1:1", "--token", "tk")
	v := decodeJSON(t, mustRun(t, "--json", "peers", "copy", "bob", "--to", "work"))
	if v["status"] != "copied" {
		t.Fatalf("copy = %v", v)
	}
	list := mustRun(t, "--profile", "work", "--json", "peers").stdout
	if !strings.Contains(list, bob.PublicKey().String()) || !strings.Contains(list, "http://127.0.0.1:1") {
		t.Fatalf("work profile peers = %s", list)
	}
	if r := runCLI(t, "", "peers", "copy", "bob", "--from", "default", "--to", "default"); r.code != ExitUsage {
		t.Fatalf("copy onto itself: exit %d", r.code)
	}
	if r := runCLI(t, "", "peers", "copy", "bob", "--from", "missing", "--to", "work"); r.code != ExitFailure {
		t.Fatalf("copy from a missing profile: exit %d", r.code)
	}
	if r := runCLI(t, "", "peers", "copy", "carol", "--to", "work"); r.code != ExitFailure || !strings.Contains(r.stderr, "unknown peer") {
		t.Fatalf("copy of an unknown peer: exit %d, %q", r.code, r.stderr)
	}
}

func TestConfigExportImport(t *testing.T) {
	isolate(t)
	src := newConfig(t)
	bob := newKey(t)
	mustRun(t, "--config", src, "peers", "add", "bob", "--pubkey", bob.PublicKey().String())
	plain := mustRun(t, "--config", src, "config", "export").stdout
	if strings.Contains(plain, "privateKey") || !strings.Contains(plain, `"version": 1`) {
		t.Fatalf("export = %s", plain)
	}
	out := filepath.Join(t.TempDir(), "export.json")
	mustRun(t, "--config", src, "config", "export", "--include-identity", "--output", out)
	if info, err := os.Stat(out); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v", info, err)
	}

	// Into a new config: identity and relay come along.
	fresh := filepath.Join(t.TempDir(), "fresh.json")
	v := decodeJSON(t, mustRun(t, "--config", fresh, "--json", "config", "import", out))
	if v["identityImported"] != true || len(v["peersAdded"].([]any)) != 1 {
		t.Fatalf("import into new config = %v", v)
	}
	srcID := decodeJSON(t, mustRun(t, "--config", src, "--json", "whoami"))
	if freshID := decodeJSON(t, mustRun(t, "--config", fresh, "--json", "whoami")); freshID["publicKey"] != srcID["publicKey"] {
		t.Fatal("identity not imported")
	}

	// Into an existing config: identity kept unless asked, peers merged.
	other := newConfig(t)
	before, _ := os.ReadFile(other)
	v = decodeJSON(t, mustRun(t, "--config", other, "--json", "config", "import", out, "--dry-run"))
	if v["status"] != "dry-run" || v["identityImported"] != false {
		t.Fatalf("dry run = %v", v)
	}
	if after, _ := os.ReadFile(other); string(after) != string(before) {
		t.Fatal("--dry-run wrote the config")
	}
	mustRun(t, "--config", other, "config", "import", out)
	if decodeJSON(t, mustRun(t, "--config", other, "--json", "whoami"))["publicKey"] == srcID["publicKey"] {
		t.Fatal("identity replaced without --overwrite-identity")
	}
	v = decodeJSON(t, mustRun(t, "--config", other, "--json", "config", "import", out, "--overwrite-identity"))
	if v["identityImported"] != true || len(v["peersSkipped"].([]any)) != 1 {
		t.Fatalf("second import = %v", v)
	}

	if r := runCLI(t, "", "--config", other, "config", "import", src); r.code != ExitFailure || !strings.Contains(r.stderr, "version") {
		t.Fatalf("import of a plain config: exit %d, %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "--config", other, "config", "import", "/nonexistent/x.json"); r.code != ExitUsage {
		t.Fatalf("import of a missing file: exit %d", r.code)
	}
}
