package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

// BenchmarkVerifyCommand measures one in-process `agora verify` of a small envelope: flag
// parsing, config lookup, Verify and output. Compare it with BenchmarkEd25519Verify.
func BenchmarkVerifyCommand(b *testing.B) {
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	env, err := protocol.CreateEnvelope(k, "publish", nil, map[string]string{"text": "hello"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(env)
	cfg := filepath.Join(b.TempDir(), "config.json")
	b.ReportAllocs()
	for b.Loop() {
		code := Run(context.Background(), []string{"--config", cfg, "verify"},
			Streams{In: bytes.NewReader(data), Out: io.Discard, Err: io.Discard})
		if code != ExitOK {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkEd25519Verify is the raw signature check that bounds BenchmarkVerifyCommand.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 300)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}
