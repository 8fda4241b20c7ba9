package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agora-p2p/agora/protocol"
)

// Database layout, version 1:
//
//	meta/version             schemaVersion
//	meta/totals              envelope count (8) | wire bytes (8), over all peers
//	peers/<spki hex>/state   count (8) | bytes (8) | last seq (8) | last storedAt ns (8)
//	peers/<spki hex>/msgs    seq (8) -> storedAt ns (8) | envelope wire JSON
//	peers/<spki hex>/ids     envelope ID -> seq (8)
//	peers/<spki hex>/time    storedAt ns (8) | seq (8) -> empty
//
// All integers are big-endian, so bbolt's byte order of keys is numeric order. Seq starts at 1
// and storedAt never decreases with seq, so both indexes list a peer's envelopes oldest first.
var (
	bucketMeta  = []byte("meta")
	bucketPeers = []byte("peers")
	bucketMsgs  = []byte("msgs")
	bucketIDs   = []byte("ids")
	bucketTime  = []byte("time")
	keyVersion  = []byte("version")
	keyTotals   = []byte("totals")
	keyState    = []byte("state")
)

const schemaVersion = "1"

// Stored is one envelope read back from the store.
type Stored struct {
	Seq      uint64 // position in the recipient's queue, increasing from 1
	Envelope *protocol.Envelope
	StoredAt time.Time
}

// peerState is the per-recipient record under key "state".
type peerState struct {
	count, bytes, lastSeq uint64
	lastStoredAt          int64 // Unix nanoseconds
}

func (p *peerState) encode() []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b[0:], p.count)
	binary.BigEndian.PutUint64(b[8:], p.bytes)
	binary.BigEndian.PutUint64(b[16:], p.lastSeq)
	binary.BigEndian.PutUint64(b[24:], uint64(p.lastStoredAt))
	return b
}

func decodePeerState(b []byte) (peerState, error) {
	if b == nil {
		return peerState{}, nil
	}
	if len(b) != 32 {
		return peerState{}, fmt.Errorf("peer state has %d bytes, expected 32", len(b))
	}
	return peerState{
		count:        binary.BigEndian.Uint64(b[0:]),
		bytes:        binary.BigEndian.Uint64(b[8:]),
		lastSeq:      binary.BigEndian.Uint64(b[16:]),
		lastStoredAt: int64(binary.BigEndian.Uint64(b[24:])),
	}, nil
}

type totals struct{ count, bytes uint64 }

func readTotals(tx *bolt.Tx) (totals, error) {
	b := tx.Bucket(bucketMeta).Get(keyTotals)
	if b == nil {
		return totals{}, nil
	}
	if len(b) != 16 {
		return totals{}, fmt.Errorf("totals have %d bytes, expected 16", len(b))
	}
	return totals{binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[8:])}, nil
}

func writeTotals(tx *bolt.Tx, t totals) error {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[0:], t.count)
	binary.BigEndian.PutUint64(b[8:], t.bytes)
	return tx.Bucket(bucketMeta).Put(keyTotals, b)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

func timeKey(storedAt int64, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(storedAt))
	return binary.BigEndian.AppendUint64(k, seq)
}

func encodeRecord(storedAt int64, wire []byte) []byte {
	rec := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(wire)), uint64(storedAt))
	return append(rec, wire...)
}

// readLimits admit any envelope that was verified before it was stored, whatever limits the
// relay ran with.
var readLimits = protocol.Limits{MaxBytes: 1 << 30, MaxRecipients: 1 << 20, MaxDepth: 1 << 12}

// decodeRecord copies what it needs out of rec, which is only valid inside the transaction.
func decodeRecord(seqBytes, rec []byte) (Stored, error) {
	if len(seqBytes) != 8 || len(rec) < 8 {
		return Stored{}, errors.New("damaged record")
	}
	seq := binary.BigEndian.Uint64(seqBytes)
	storedAt := int64(binary.BigEndian.Uint64(rec))
	// protocol.Parse copies the text into the Envelope's own fields.
	env, err := protocol.Parse(rec[8:], readLimits)
	if err != nil {
		return Stored{}, fmt.Errorf("record %d: %w", seq, err)
	}
	return Stored{Seq: seq, Envelope: env, StoredAt: time.Unix(0, storedAt)}, nil
}

// peerBuckets are the sub-buckets of one recipient.
type peerBuckets struct {
	root, msgs, ids, time *bolt.Bucket
}

// openPeer returns the recipient's buckets, or ok false when nothing was ever stored for it.
func openPeer(tx *bolt.Tx, recipient string) (peerBuckets, bool) {
	root := tx.Bucket(bucketPeers).Bucket([]byte(recipient))
	if root == nil {
		return peerBuckets{}, false
	}
	pb := peerBuckets{root: root, msgs: root.Bucket(bucketMsgs), ids: root.Bucket(bucketIDs), time: root.Bucket(bucketTime)}
	if pb.msgs == nil || pb.ids == nil || pb.time == nil {
		return peerBuckets{}, false
	}
	return pb, true
}

func createPeer(tx *bolt.Tx, recipient string) (peerBuckets, error) {
	root, err := tx.Bucket(bucketPeers).CreateBucketIfNotExists([]byte(recipient))
	if err != nil {
		return peerBuckets{}, err
	}
	pb := peerBuckets{root: root}
	for _, sub := range []struct {
		name []byte
		dst  **bolt.Bucket
	}{{bucketMsgs, &pb.msgs}, {bucketIDs, &pb.ids}, {bucketTime, &pb.time}} {
		if *sub.dst, err = root.CreateBucketIfNotExists(sub.name); err != nil {
			return peerBuckets{}, err
		}
	}
	return pb, nil
}
