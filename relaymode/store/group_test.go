package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestGroupFailureKeepsOthers(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "group.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	g := &groupCommitter{db: db}
	errBad := errors.New("bad request")
	const calls = 200
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			errs[i] = g.do(func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "%03d", i), []byte("v")); err != nil {
					return err
				}
				if i%50 == 7 {
					return errBad
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		want := error(nil)
		if i%50 == 7 {
			want = errBad
		}
		if !errors.Is(err, want) {
			t.Errorf("call %d: err = %v, want %v", i, err, want)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range calls {
			present := b.Get(fmt.Appendf(nil, "%03d", i)) != nil
			if present == (i%50 == 7) {
				t.Errorf("key %03d present = %v after its call returned %v", i, present, errs[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGroupAfterCloseFails(t *testing.T) {
	s, peer := testStore(t, Options{})
	env := newEnvelope(t, newKey(t), peer, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), peer, env); err == nil {
		t.Fatal("Put on a closed store returned nil")
	}
}
