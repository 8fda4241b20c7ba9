// Package store keeps envelopes for offline storage peers of a relay in an embedded bbolt
// database, so that they can be delivered when the peer connects again.
//
// Put returns only after the transaction that holds the envelope is committed and synced to
// disk (bbolt with NoSync off), so an accepted envelope survives a crash or SIGKILL of the
// process. By default concurrent Puts share one transaction and one fsync (group commit).
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/agora-p2p/agora/protocol"
)

// FileName is the name of the database file inside Options.Dir.
const FileName = "agora-relay.db"

// Defaults of Options, used where a field is zero.
const (
	DefaultMaxPerPeer      = 10_000
	DefaultMaxBytesPerPeer = 64 << 20
	DefaultMaxTotalBytes   = 1 << 30
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultLockTimeout     = 2 * time.Second
)

// MaxPage is the largest number of envelopes that one Pending, After or Since call returns.
const MaxPage = 10_000

// Options configures a Store. A zero quota or MaxAge takes its default; a negative one turns
// that limit off.
type Options struct {
	// Dir is the storage directory, created with mode 0700 when missing. The database is the
	// file FileName inside it.
	Dir string
	// StoragePeers are the public keys (SPKI hex or libp2p peer ID) whose envelopes are kept.
	StoragePeers []string
	// MaxPerPeer is the number of envelopes kept per peer.
	MaxPerPeer int
	// MaxBytesPerPeer bounds the wire size of the envelopes kept per peer, in bytes.
	MaxBytesPerPeer int64
	// MaxTotalBytes bounds the wire size of all envelopes kept, in bytes.
	MaxTotalBytes int64
	// MaxAge is how long an envelope is kept after it was stored; Expire removes older ones.
	MaxAge time.Duration
	// NoBatch commits each Put in its own transaction with its own fsync. The default commits
	// concurrent Puts together in one transaction, which is still synced before any of them
	// returns.
	NoBatch bool
	// LockTimeout is how long Open waits for the file lock held by another process.
	LockTimeout time.Duration
	Logger      *slog.Logger
}

// Store is a durable store of envelopes for storage peers. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	group *groupCommitter
	// boltBatch makes Put use DB.Batch in place of the group committer. Only benchmarks set it,
	// to compare the two.
	boltBatch bool
	path      string
	peers     map[string]struct{} // canonical SPKI hex
	opts      Options
	log       *slog.Logger
	nowFunc   func() time.Time
}

// Errors returned by the Store.
var (
	ErrNotStoragePeer = errors.New("recipient is not a storage peer")
	ErrQuotaExceeded  = errors.New("store quota exceeded")
	ErrInvalid        = errors.New("invalid envelope for the store")
)

// Quota names one limit of the store.
type Quota string

// Quotas of the store.
const (
	QuotaPeerCount  Quota = "peer_count"
	QuotaPeerBytes  Quota = "peer_bytes"
	QuotaTotalBytes Quota = "total_bytes"
)

// QuotaError reports which quota a Put would exceed. errors.Is(err, ErrQuotaExceeded) holds
// for it.
type QuotaError struct {
	Quota     Quota
	Recipient string
	Limit     int64 // envelopes for QuotaPeerCount, else bytes
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("store quota exceeded: %s limit %d reached for recipient %s", e.Quota, e.Limit, e.Recipient)
}

// Is makes errors.Is(err, ErrQuotaExceeded) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

// QuotaExceeded returns true. It lets callers detect a *QuotaError with errors.As on an
// interface, without importing this package.
func (e *QuotaError) QuotaExceeded() bool { return true }

// Open opens or creates the database in opts.Dir. A file that is not a valid bbolt database
// is an error naming the file, and the file is left as it was. When another process holds the
// database, Open fails after opts.LockTimeout.
func Open(opts Options) (*Store, error) {
	opts = withDefaults(opts)
	if opts.Dir == "" {
		return nil, errors.New("open store: storage directory is empty")
	}
	peers, err := canonicalPeers(opts.StoragePeers)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create storage directory %s: %w", opts.Dir, err)
	}
	path := filepath.Join(opts.Dir, FileName)
	_, statErr := os.Stat(path)
	db, err := openBolt(path, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// bbolt syncs the file but not its directory entry, which a power loss could drop.
		if err := syncDir(opts.Dir); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open store %s: sync storage directory: %w", path, err)
		}
	}
	s := &Store{db: db, group: &groupCommitter{db: db}, path: path, peers: peers, opts: opts, log: opts.Logger, nowFunc: time.Now}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.log.Info("store opened", "path", path, "storage_peers", len(peers))
	return s, nil
}

func withDefaults(opts Options) Options {
	if opts.MaxPerPeer == 0 {
		opts.MaxPerPeer = DefaultMaxPerPeer
	}
	if opts.MaxBytesPerPeer == 0 {
		opts.MaxBytesPerPeer = DefaultMaxBytesPerPeer
	}
	if opts.MaxTotalBytes == 0 {
		opts.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return opts
}

func canonicalPeers(keys []string) (map[string]struct{}, error) {
	peers := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		pub, err := protocol.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("open store: storage peer %q: %w", k, err)
		}
		peers[pub.String()] = struct{}{}
	}
	return peers, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openBolt opens the file and turns a panic inside bbolt, which a damaged file can cause,
// into an error.
func openBolt(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("open store %s: damaged database file: %v", path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: file is locked by another process (waited %s): %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// init checks the schema version and creates the top-level buckets of a new file. An
// existing store is only read here, so that Open writes nothing to a file it cannot use.
func (s *Store) init() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open store %s: damaged database file: %v", s.path, r)
		}
	}()
	ready := false
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(keyVersion); string(v) != schemaVersion {
			return fmt.Errorf("unsupported schema version %q (expected %q)", v, schemaVersion)
		}
		if tx.Bucket(bucketPeers) == nil {
			return errors.New("missing bucket peers")
		}
		ready = true
		return nil
	})
	if err == nil && !ready {
		err = s.db.Update(createSchema)
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", s.path, err)
	}
	return nil
}

func createSchema(tx *bolt.Tx) error {
	if _, err := tx.CreateBucket(bucketPeers); err != nil {
		return err
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keyVersion, []byte(schemaVersion))
}

// Close closes the database. It waits for running transactions.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	s.log.Info("store closed", "path", s.path)
	return nil
}

// Path returns the path of the database file.
func (s *Store) Path() string { return s.path }

// IsStoragePeer reports whether envelopes for key (SPKI hex or libp2p peer ID) are kept.
func (s *Store) IsStoragePeer(key string) bool {
	_, ok := s.canonical(key)
	return ok
}

// canonical returns the SPKI hex form of key when key is a storage peer.
func (s *Store) canonical(key string) (string, bool) {
	if _, ok := s.peers[key]; ok {
		return key, true
	}
	pub, err := protocol.ParsePublicKey(key)
	if err != nil {
		return "", false
	}
	_, ok := s.peers[pub.String()]
	return pub.String(), ok
}

// Check reports whether the database can be read, for a readiness probe.
func (s *Store) Check() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil || tx.Bucket(bucketPeers) == nil {
			return errors.New("missing top-level bucket")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

func limitOrMax(limit int64) int64 {
	if limit < 0 {
		return math.MaxInt64
	}
	return limit
}
