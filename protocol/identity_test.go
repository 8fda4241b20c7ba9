package protocol

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestKeyVectorsRoundTrip(t *testing.T) {
	keys := vectorKeys(t)
	if len(keys) == 0 {
		t.Fatal("no keys read")
	}
	for name, kv := range keys {
		t.Run(name, func(t *testing.T) {
			seed, _ := hex.DecodeString(kv.Seed)
			k, err := KeyPairFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.PrivateKeyHex(); got != kv.PrivateKey {
				t.Errorf("PrivateKeyHex = %s, want %s", got, kv.PrivateKey)
			}
			if got := k.PublicKey().String(); got != kv.PublicKey {
				t.Errorf("public key = %s, want %s", got, kv.PublicKey)
			}
			raw := k.PublicKey()
			if got := hex.EncodeToString(raw[:]); got != kv.RawPublicKey {
				t.Errorf("raw public key = %s, want %s", got, kv.RawPublicKey)
			}
			if got := k.PeerID().String(); got != kv.PeerID {
				t.Errorf("PeerID = %s, want %s", got, kv.PeerID)
			}
			checkKeySpellings(t, k, kv)
		})
	}
}

// checkKeySpellings parses every spelling of one key and expects the same key back.
func checkKeySpellings(t *testing.T, k *KeyPair, kv keyVector) {
	t.Helper()
	parsed, err := ParsePrivateKey(kv.PrivateKey)
	if err != nil || parsed.PublicKey() != k.PublicKey() {
		t.Errorf("ParsePrivateKey = %v, %v", parsed, err)
	}
	for _, s := range []string{kv.PublicKey, strings.ToUpper(kv.PublicKey), kv.PeerID} {
		pk, err := ParsePublicKey(s)
		if err != nil {
			t.Errorf("ParsePublicKey(%s): %v", s, err)
		} else if pk != k.PublicKey() {
			t.Errorf("ParsePublicKey(%s) = %s", s, pk)
		}
	}
	fromLibp2p, err := KeyPairFromLibp2p(k.Libp2p())
	if err != nil || fromLibp2p.PublicKey() != k.PublicKey() {
		t.Errorf("KeyPairFromLibp2p round trip failed: %v", err)
	}
	pub, err := PublicKeyFromLibp2p(k.PublicKey().Libp2p())
	if err != nil || pub != k.PublicKey() {
		t.Errorf("PublicKeyFromLibp2p round trip failed: %v", err)
	}
	id, _ := peer.Decode(kv.PeerID)
	fromID, err := PublicKeyFromPeerID(id)
	if err != nil || fromID != k.PublicKey() {
		t.Errorf("PublicKeyFromPeerID = %s, %v", fromID, err)
	}
	if got, want := k.PublicKey().Short(), kv.PublicKey[len(kv.PublicKey)-8:]; got != want {
		t.Errorf("Short = %s, want %s", got, want)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	valid := mustKey(t, 3).PublicKey().String()
	cases := map[string]struct {
		input string
		want  string
	}{
		"bad hex":      {valid[:len(valid)-1] + "z", "not hex"},
		"wrong length": {valid[:20], "length 20"},
		"wrong prefix": {"302a300506032b6571032100" + valid[24:], "wrong prefix"},
		"bad peer ID":  {"12D3KooWnotapeerid", "invalid peer ID"},
		"empty":        {"", "length 0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePublicKey(c.input)
			if err == nil {
				t.Fatalf("ParsePublicKey(%q) succeeded", c.input)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestParsePublicKeyNotEd25519(t *testing.T) {
	priv, _, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParsePublicKey(id.String())
	if err == nil || !strings.Contains(err.Error(), "not Ed25519") {
		t.Fatalf("ParsePublicKey(secp256k1 peer ID) error = %v, want one saying not Ed25519", err)
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	valid := mustKey(t, 4).PrivateKeyHex()
	for _, s := range []string{"", valid[:30], "zz" + valid[2:], "302e020100300506032b657104220420" + valid[32:]} {
		if _, err := ParsePrivateKey(s); err == nil {
			t.Errorf("ParsePrivateKey(%q) succeeded", s)
		}
	}
}

func TestKeyFileModeAndWarning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "identity.key")
	k := mustKey(t, 5)
	if err := SaveKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", perm)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	loaded, err := LoadKeyFile(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.PublicKey() != k.PublicKey() {
		t.Fatal("loaded key differs")
	}
	if logs.Len() != 0 {
		t.Fatalf("unexpected warning for a 0600 file: %s", logs.String())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), path) || !strings.Contains(logs.String(), "readable by other users") {
		t.Fatalf("warning does not name the file: %q", logs.String())
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKeyFile(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("LoadKeyFile of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(bad, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("LoadKeyFile error = %v, want one naming %s", err, bad)
	}
}

func TestSignVerify(t *testing.T) {
	k := mustKey(t, 6)
	sig := k.Sign([]byte("message"))
	if !k.PublicKey().Verify([]byte("message"), sig) {
		t.Fatal("signature does not verify")
	}
	if k.PublicKey().Verify([]byte("massage"), sig) {
		t.Fatal("signature verifies for another message")
	}
	if k.PublicKey().Verify([]byte("message"), sig[:63]) {
		t.Fatal("truncated signature verifies")
	}
}
