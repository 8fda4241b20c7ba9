package store

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/protocol"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(runChildWriter(dir))
	}
	goleak.VerifyTestMain(m)
}

func newKey(t testing.TB) *protocol.KeyPair {
	t.Helper()
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnvelope(t testing.TB, from *protocol.KeyPair, to string, n int) *protocol.Envelope {
	t.Helper()
	env, err := protocol.CreateEnvelope(from, "publish", []string{to}, map[string]any{"n": n, "text": fmt.Sprintf("message %d", n)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// testStore opens a store in a fresh directory with one storage peer and returns both.
func testStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	peer := newKey(t).PublicKey().String()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.StoragePeers = append(opts.StoragePeers, peer)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, peer
}

func mustPut(t testing.TB, s *Store, peer string, env *protocol.Envelope) {
	t.Helper()
	if err := s.Put(context.Background(), peer, env); err != nil {
		t.Fatalf("Put %s: %v", env.ID, err)
	}
}

func ids(stored []Stored) []string {
	out := make([]string, len(stored))
	for i, st := range stored {
		out[i] = st.Envelope.ID
	}
	return out
}
