package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

const (
	rookKey    = "302a300506032b65700321003413aeb1803dc278e0fd691b731ac25bd463fe7ef3a87cf2524900e0b59bc942"
	bishopKey  = "302a300506032b6570032100311759377ec87bd87debbdcf0574d1e23ae9f91a543412ef6c7acd7ab4a427fc"
	knightKey  = "302a300506032b657003210071b078bd0fc2a739e995247bf5b294092b9d88733ab2983fe81c090d109da204"
	knightPeer = "12D3KooWHUAJzgLLJ94pCP3cMPpN3Q9HXcEdg6dKDUhj9UcduFvB"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseEarlierFormat(t *testing.T) {
	c, err := Parse(readTestdata(t, "earlier.json"), "earlier.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity == nil || c.Identity.PublicKey != rookKey || c.Identity.Name != "rook" {
		t.Fatalf("identity = %+v", c.Identity)
	}
	if len(c.Peers) != 2 {
		t.Fatalf("%d peers, want 2", len(c.Peers))
	}
	bishop, knight := c.Peers[0], c.Peers[1]
	if bishop.Name != "bishop" || bishop.URL != "http://localhost:18790/hooks" || bishop.Token != "bishop-webhook-token" {
		t.Errorf("bishop = %+v", bishop)
	}
	if knight.Name != "knight" || knight.Key != "knight" || knight.PublicKey != knightKey {
		t.Errorf("knight (legacy name key) = %+v", knight)
	}
	if c.Relay == nil || c.Relay.URL != "wss://relay.example.invalid" || !c.Relay.AutoConnectEnabled() {
		t.Errorf("relay = %+v", c.Relay)
	}
	kp, err := c.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if kp.PublicKey().String() != rookKey {
		t.Errorf("key pair public key = %s", kp.PublicKey())
	}
}

func TestRoundTripKeepsUnknownFields(t *testing.T) {
	for _, name := range []string{"earlier.json", "earlier-relay-object.json"} {
		t.Run(name, func(t *testing.T) {
			in := readTestdata(t, name)
			c, err := Parse(in, name)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, in, out) {
				t.Fatalf("rewrite changed the file\n in: %s\nout: %s", in, out)
			}
			if !bytes.Equal(bytes.TrimSpace(in), bytes.TrimSpace(out)) {
				t.Errorf("rewrite changed the layout\n in: %s\nout: %s", in, out)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func TestRelayObjectFields(t *testing.T) {
	c, err := Parse(readTestdata(t, "earlier-relay-object.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Relay
	if r.URL != "ws://127.0.0.1:9470" || r.AutoConnectEnabled() || r.Name != "rook-relay-client" {
		t.Fatalf("relay = %+v", r)
	}
	if r.ReconnectMaxMs == nil || *r.ReconnectMaxMs != 30000 {
		t.Fatalf("reconnectMaxMs = %v", r.ReconnectMaxMs)
	}
}

func TestRelayStringBecomesObject(t *testing.T) {
	c, err := Parse(readTestdata(t, "earlier.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	c.Relay.PublicKey = bishopKey
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out, "x")
	if err != nil {
		t.Fatal(err)
	}
	if again.Relay.URL != "wss://relay.example.invalid" || again.Relay.PublicKey != bishopKey {
		t.Fatalf("relay after rewrite = %+v", again.Relay)
	}
}

func TestOurFieldsRoundTrip(t *testing.T) {
	c, err := Parse(readTestdata(t, "earlier.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001/p2p/" + knightPeer}
	c.Peers[0].Addrs = []string{"/ip4/127.0.0.1/tcp/4002"}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out, "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Listen) != 1 || len(again.Bootstrap) != 1 || len(again.Peers[0].Addrs) != 1 {
		t.Fatalf("fields lost: %s", out)
	}
	if !strings.Contains(string(out), `"trust": 0.7`) || !strings.Contains(string(out), `"reputation"`) {
		t.Fatalf("unknown fields lost: %s", out)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, text, field string
	}{
		{"not json", `{"identity":`, ""},
		{"array", `[]`, ""},
		{"identity type", `{"identity":"x"}`, "identity"},
		{"public key missing", `{"identity":{"privateKey":"00"}}`, "identity.publicKey"},
		{"public key number", `{"identity":{"publicKey":5,"privateKey":"00"}}`, "identity.publicKey"},
		{"private key bad", `{"identity":{"publicKey":"` + rookKey + `","privateKey":"00"}}`, "identity.privateKey"},
		{"key mismatch", `{"identity":{"publicKey":"` + bishopKey + `","privateKey":"302e020100300506032b65700422042004af20cef76c425c62b5233bafbad79b124ac7812260e92d0733b0034e05d87b"}}`, "identity.publicKey"},
		{"peers type", `{"peers":[]}`, "peers"},
		{"peer key bad", `{"peers":{"bob":{"publicKey":"abc"}}}`, "peers.bob.publicKey"},
		{"peer url type", `{"peers":{"bob":{"publicKey":"` + bishopKey + `","url":1}}}`, "peers.bob.url"},
		{"peer addrs type", `{"peers":{"bob":{"publicKey":"` + bishopKey + `","addrs":"x"}}}`, "peers.bob.addrs"},
		{"relay type", `{"relay":1}`, "relay"},
		{"relay url missing", `{"relay":{}}`, "relay.url"},
		{"relay autoConnect", `{"relay":{"url":"ws://x","autoConnect":"yes"}}`, "relay.autoConnect"},
		{"listen type", `{"listen":"x"}`, "listen"},
		{"duplicate member", `{"peers":{},"peers":{}}`, ""},
		{"duplicate peer key", `{"peers":{"a":{"publicKey":"` + bishopKey + `"},"b":{"publicKey":"` + bishopKey + `"}}}`, "peers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), "/tmp/c.json")
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (err %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), "/tmp/c.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			if strings.Contains(err.Error(), "04af20cef76c") {
				t.Errorf("error contains private key material: %v", err)
			}
		})
	}
}

func TestSaveAtomicMode0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "config.json")
	c, err := Parse(readTestdata(t, "earlier.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
	// Overwriting a file that others could read leaves it at 0600 too.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode after rewrite = %v, want 0600", info.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only config.json (temporary file left behind?)", len(entries))
	}
	loaded, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Peers) != 2 {
		t.Errorf("loaded %d peers", len(loaded.Peers))
	}
}

func TestSaveFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	original := readTestdata(t, "earlier.json")
	if err := os.WriteFile(path, original, 0o600); err != nil {
		t.Fatal(err)
	}
	// A read-only directory makes the temporary file impossible to create.
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() == 0 {
		t.Log("running as root: directory permissions do not apply, checking the content only")
	}
	c, _ := Parse(original, "x")
	c.Peers = nil
	err := Save(path, c)
	got, _ := os.ReadFile(path)
	if os.Geteuid() != 0 {
		if err == nil {
			t.Fatal("Save succeeded in a read-only directory")
		}
		if !bytes.Equal(got, original) {
			t.Fatal("failed Save changed the file")
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.json"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	c, err := LoadOrEmpty(filepath.Join(t.TempDir(), "none.json"), nil)
	if err != nil || c.Identity != nil || len(c.Peers) != 0 {
		t.Fatalf("LoadOrEmpty = %+v, %v", c, err)
	}
}

func TestResolvePeer(t *testing.T) {
	c := &Config{}
	bishop, _ := protocol.ParsePublicKey(bishopKey)
	knight, _ := protocol.ParsePublicKey(knightKey)
	mustAdd(t, c, &Peer{PublicKey: bishopKey, Name: "bishop"})
	mustAdd(t, c, &Peer{PublicKey: knightKey, Name: "twin"})
	mustAdd(t, c, &Peer{PublicKey: rookKey, Name: "twin"})

	ok := []struct {
		ref  string
		want protocol.PublicKey
	}{
		{bishopKey, bishop},
		{strings.ToUpper(bishopKey), bishop},
		{knightPeer, knight},
		{"bishop", bishop},
		{"bishop@" + bishop.Short(), bishop},
		{"@" + bishop.Short(), bishop},
		{"@" + strings.ToUpper(bishop.Short()), bishop},
		{"twin@" + knight.Short(), knight},
		{"bishop..." + bishop.Short(), bishop},
		{"..." + bishop.Short(), bishop},
	}
	for _, tc := range ok {
		res, err := c.ResolvePeer(tc.ref)
		if err != nil {
			t.Errorf("ResolvePeer(%q): %v", tc.ref, err)
			continue
		}
		if res.Key != tc.want || res.Peer == nil {
			t.Errorf("ResolvePeer(%q) = %v, %v", tc.ref, res.Key.Short(), res.Peer)
		}
	}
}

func TestResolvePeerErrors(t *testing.T) {
	c := &Config{}
	knight, _ := protocol.ParsePublicKey(knightKey)
	mustAdd(t, c, &Peer{PublicKey: knightKey, Name: "twin"})
	mustAdd(t, c, &Peer{PublicKey: rookKey, Name: "twin"})

	_, err := c.ResolvePeer("twin")
	var re *RefError
	if !errors.As(err, &re) || !re.Ambiguous || len(re.Candidates) != 2 {
		t.Fatalf("ambiguous name: %v", err)
	}
	if !strings.Contains(err.Error(), "twin@"+knight.Short()) {
		t.Errorf("ambiguity error does not list candidates: %v", err)
	}
	_, err = c.ResolvePeer("nobody")
	if !errors.As(err, &re) || re.Ambiguous || len(re.Candidates) != 2 {
		t.Fatalf("unknown name: %v", err)
	}
	_, err = c.ResolvePeer("bishop@00000000")
	if !errors.As(err, &re) || re.Ambiguous {
		t.Fatalf("wrong suffix: %v", err)
	}
	res, err := c.ResolvePeer(bishopKey)
	if err != nil || res.Peer != nil {
		t.Fatalf("unconfigured key = %+v, %v; want a key without a peer", res, err)
	}
	_, err = (&Config{}).ResolvePeer("x")
	if err == nil || !strings.Contains(err.Error(), "no peers are configured") {
		t.Fatalf("empty config: %v", err)
	}
}

func mustAdd(t *testing.T, c *Config, p *Peer) {
	t.Helper()
	if _, err := c.AddPeer(p); err != nil {
		t.Fatal(err)
	}
}

func TestAddPeerReplacesSameKey(t *testing.T) {
	c, err := Parse(readTestdata(t, "earlier.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	added, err := c.AddPeer(&Peer{PublicKey: strings.ToUpper(knightKey), Name: "knight2"})
	if err != nil || added {
		t.Fatalf("AddPeer = %v, %v; want an update", added, err)
	}
	if len(c.Peers) != 2 || c.Peers[1].Name != "knight2" || c.Peers[1].Key != "knight" {
		t.Fatalf("peers = %+v", c.Peers[1])
	}
	out, _ := c.Marshal()
	if !strings.Contains(string(out), `"trust": 0.7`) {
		t.Errorf("update lost unknown fields: %s", out)
	}
	k, _ := protocol.ParsePublicKey(knightKey)
	if !c.RemovePeer(k) || len(c.Peers) != 1 {
		t.Fatal("RemovePeer failed")
	}
	if c.RemovePeer(k) {
		t.Fatal("RemovePeer removed a missing peer")
	}
}

func TestExportImport(t *testing.T) {
	src, err := Parse(readTestdata(t, "earlier.json"), "x")
	if err != nil {
		t.Fatal(err)
	}
	withoutID, err := Export(src, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(withoutID), "privateKey") {
		t.Fatalf("export without identity contains the private key: %s", withoutID)
	}
	withID, err := Export(src, true)
	if err != nil {
		t.Fatal(err)
	}
	incoming, err := ParseExport(withID, "export.json")
	if err != nil {
		t.Fatal(err)
	}
	target := &Config{}
	mustAdd(t, target, &Peer{PublicKey: bishopKey, Name: "mine"})
	res, err := Import(target, incoming, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PeersAdded) != 1 || len(res.PeersSkipped) != 1 || res.IdentityImported || res.RelayImported {
		t.Fatalf("result = %+v", res)
	}
	if target.Peers[0].Name != "mine" || target.Identity != nil || target.Relay != nil {
		t.Fatalf("import overwrote data: %+v", target)
	}
	res, err = Import(target, incoming, ImportOptions{OverwriteIdentity: true, OverwriteRelay: true})
	if err != nil || !res.IdentityImported || !res.RelayImported || target.Identity.PublicKey != rookKey {
		t.Fatalf("overwrite: %+v, %v", res, err)
	}
	if _, err := ParseExport(readTestdata(t, "earlier.json"), "plain.json"); err == nil {
		t.Fatal("ParseExport accepted a file without version")
	}
}

func TestProfilesAndResolve(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EnvConfig, "")
	t.Setenv(EnvConfigDir, "")
	base := filepath.Join(home, ".config", "agora")
	p, err := Resolve("", "")
	if err != nil || p != filepath.Join(base, "config.json") {
		t.Fatalf("default path = %s, %v", p, err)
	}
	p, err = Resolve("", "work")
	if err != nil || p != filepath.Join(base, "profiles", "work", "config.json") {
		t.Fatalf("profile path = %s, %v", p, err)
	}
	for _, bad := range []string{"../x", ".hidden", "a/b", ""} {
		if bad == "" {
			continue
		}
		if _, err := Resolve("", bad); err == nil {
			t.Errorf("profile %q accepted", bad)
		}
	}
	if _, err := Resolve("/tmp/x.json", "work"); err == nil {
		t.Error("--config with --profile accepted")
	}
	t.Setenv(EnvConfig, filepath.Join(home, "env.json"))
	if p, _ := Resolve("", ""); p != filepath.Join(home, "env.json") {
		t.Errorf("AGORA_CONFIG ignored: %s", p)
	}
	if p, _ := Resolve("", "work"); p != filepath.Join(base, "profiles", "work", "config.json") {
		t.Errorf("explicit profile lost to AGORA_CONFIG: %s", p)
	}
	for _, name := range []string{"default", "work", "alpha"} {
		path, _ := ProfilePath(name)
		if err := Save(path, &Config{}); err != nil {
			t.Fatal(err)
		}
	}
	names, err := Profiles()
	if err != nil || strings.Join(names, ",") != "default,alpha,work" {
		t.Fatalf("Profiles = %v, %v", names, err)
	}
}

func TestUpdateConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	const writers = 16
	keys := make([]string, writers)
	for i := range keys {
		k, err := protocol.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k.PublicKey().String()
	}
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			_, err := Update(path, nil, func(c *Config) error {
				_, err := c.AddPeer(&Peer{PublicKey: keys[i], Name: "p"})
				return err
			})
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Peers) != writers {
		t.Fatalf("%d peers after %d concurrent updates; updates were lost", len(c.Peers), writers)
	}
}

func TestUpdateWritesNothingOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	original := readTestdata(t, "earlier.json")
	if err := os.WriteFile(path, original, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, result := range []error{ErrUnchanged, errors.New("change failed")} {
		_, err := Update(path, nil, func(c *Config) error {
			c.Peers = nil
			return result
		})
		if result == ErrUnchanged && err != nil {
			t.Fatalf("ErrUnchanged: Update returned %v", err)
		}
		if result != ErrUnchanged && err == nil {
			t.Fatal("Update hid the change function's error")
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, original) {
			t.Fatalf("Update wrote the file after %v", result)
		}
	}
}

func TestLoadWarnsOnlyForReadableIdentity(t *testing.T) {
	dir := t.TempDir()
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	withKey := filepath.Join(dir, "with.json")
	body := `{"identity":{"publicKey":"` + k.PublicKey().String() + `","privateKey":"` + k.PrivateKeyHex() + `"}}`
	if err := os.WriteFile(withKey, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	withoutKey := filepath.Join(dir, "without.json")
	if err := os.WriteFile(withoutKey, []byte(`{"peers":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := Load(withoutKey, log); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("warning for a config without an identity: %s", logs.String())
	}
	if _, err := Load(withKey, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), withKey) {
		t.Fatalf("no warning naming %s: %q", withKey, logs.String())
	}
}
