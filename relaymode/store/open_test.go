package store

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenInvalidStoragePeer(t *testing.T) {
	_, err := Open(Options{Dir: t.TempDir(), StoragePeers: []string{"not-a-key"}})
	if err == nil || !strings.Contains(err.Error(), "not-a-key") {
		t.Fatalf("Open with an invalid storage peer: err = %v, want an error naming the key", err)
	}
}

func TestOpenCorruptFile(t *testing.T) {
	garbage := make([]byte, 64<<10)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	damagedMeta := validDatabase(t)
	copy(damagedMeta[16:64], bytes.Repeat([]byte{0xff}, 48))           // first meta page
	copy(damagedMeta[4096+16:4096+64], bytes.Repeat([]byte{0xff}, 48)) // second meta page
	cases := map[string][]byte{
		"random bytes":      garbage,
		"short file":        []byte("not a database"),
		"both metas broken": damagedMeta,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(Options{Dir: dir, LockTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, content) {
				t.Errorf("Open changed the damaged file (%d bytes before, %d after)", len(content), len(after))
			}
		})
	}
}

func validDatabase(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	peer := newKey(t).PublicKey().String()
	s, err := Open(Options{Dir: dir, StoragePeers: []string{peer}})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, peer, newEnvelope(t, newKey(t), peer, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenUnwritableDir(t *testing.T) {
	base := t.TempDir()
	var dir string
	if os.Geteuid() == 0 {
		t.Log("running as root: the storage directory's parent is a regular file")
		parent := filepath.Join(base, "file")
		if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(parent, "store")
	} else {
		t.Log("running as a normal user: the storage directory has mode 0500")
		dir = filepath.Join(base, "readonly")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	}
	s, err := Open(Options{Dir: dir})
	if err == nil {
		s.Close()
		t.Fatal("Open in an unwritable directory succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory %s", err, dir)
	}
}

func TestOpenLockedFails(t *testing.T) {
	s, _ := testStore(t, Options{})
	start := time.Now()
	_, err := Open(Options{Dir: filepath.Dir(s.Path()), LockTimeout: 150 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a locked database succeeded")
	}
	if !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("error %q does not say that %s is locked", err, s.Path())
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Open waited %s, want about the lock timeout", waited)
	}
}

func TestCheck(t *testing.T) {
	s, _ := testStore(t, Options{})
	if err := s.Check(); err != nil {
		t.Fatalf("Check on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err == nil {
		t.Error("Check on a closed store returned nil")
	}
}

func TestOpenUnknownSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketPeers); err != nil {
			return err
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return meta.Put(keyVersion, []byte("9"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(Options{Dir: dir})
	if err == nil {
		s.Close()
		t.Fatal("Open of a store with schema version 9 succeeded")
	}
	if !strings.Contains(err.Error(), "schema version") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the schema version and the file", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Open changed a store file of an unknown schema version")
	}
}
