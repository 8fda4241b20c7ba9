package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agora-p2p/agora/protocol"
)

// maxIDLength bounds the envelope IDs used as keys. Verified IDs are 64 hex characters.
const maxIDLength = 128

// Put stores env for recipient and returns after the transaction is committed and synced to
// disk. Storing an ID that the recipient's queue already holds returns nil and stores nothing.
// A full quota returns a *QuotaError. The wait for the commit does not end when ctx is
// cancelled, because the envelope may already be part of a batch.
func (s *Store) Put(ctx context.Context, recipient string, env *protocol.Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}

	key, ok := s.canonical(recipient)
	if !ok {
		return fmt.Errorf("store envelope for %s: %w", recipient, ErrNotStoragePeer)
	}
	if env == nil || env.ID == "" || len(env.ID) > maxIDLength {
		return fmt.Errorf("store envelope for %s: %w: missing or oversized ID", recipient, ErrInvalid)
	}
	wire, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("store envelope %s: %w: %v", env.ID, ErrInvalid, err)
	}

	// The quota result travels outside the transaction's error, so that a full quota commits
	// nothing for this Put without rolling back the others of its group.
	var quotaErr error
	put := func(tx *bolt.Tx) error {
		quotaErr = nil
		qe, err := s.putTx(tx, key, env.ID, wire)
		if qe != nil {
			quotaErr = qe
		}
		return err
	}

	switch {
	case s.opts.NoBatch:
		err = s.db.Update(put)
	case s.boltBatch:
		err = s.db.Batch(put)
	default:
		err = s.group.do(put)
	}
	if err != nil {
		s.log.Error("store envelope failed", "recipient", key, "id", env.ID, "err", err)
		return fmt.Errorf("store envelope %s in %s: %w", env.ID, s.path, err)
	}
	return quotaErr
}

// putTx adds one envelope in tx. It returns a *QuotaError, without changing anything, when a
// quota is full.
func (s *Store) putTx(tx *bolt.Tx, recipient, id string, wire []byte) (*QuotaError, error) {
	pb, err := createPeer(tx, recipient)
	if err != nil {
		return nil, err
	}
	if pb.ids.Get([]byte(id)) != nil {
		return nil, nil
	}
	state, err := decodePeerState(pb.root.Get(keyState))
	if err != nil {
		return nil, err
	}
	tot, err := readTotals(tx)
	if err != nil {
		return nil, err
	}
	if qe := s.checkQuota(recipient, state, tot, int64(len(wire))); qe != nil {
		return qe, nil
	}

	storedAt := max(s.nowFunc().UnixNano(), state.lastStoredAt)
	seq := state.lastSeq + 1
	if err := pb.msgs.Put(seqKey(seq), encodeRecord(storedAt, wire)); err != nil {
		return nil, err
	}
	if err := pb.ids.Put([]byte(id), seqKey(seq)); err != nil {
		return nil, err
	}
	if err := pb.time.Put(timeKey(storedAt, seq), nil); err != nil {
		return nil, err
	}

	state.count++
	state.bytes += uint64(len(wire))
	state.lastSeq = seq
	state.lastStoredAt = storedAt
	if err := pb.root.Put(keyState, state.encode()); err != nil {
		return nil, err
	}
	return nil, writeTotals(tx, totals{tot.count + 1, tot.bytes + uint64(len(wire))})
}

func (s *Store) checkQuota(recipient string, state peerState, tot totals, size int64) *QuotaError {
	if maxCount := limitOrMax(int64(s.opts.MaxPerPeer)); int64(state.count) >= maxCount {
		return &QuotaError{Quota: QuotaPeerCount, Recipient: recipient, Limit: maxCount}
	}
	if maxBytes := limitOrMax(s.opts.MaxBytesPerPeer); int64(state.bytes)+size > maxBytes {
		return &QuotaError{Quota: QuotaPeerBytes, Recipient: recipient, Limit: maxBytes}
	}
	if maxTotal := limitOrMax(s.opts.MaxTotalBytes); int64(tot.bytes)+size > maxTotal {
		return &QuotaError{Quota: QuotaTotalBytes, Recipient: recipient, Limit: maxTotal}
	}
	return nil
}

// Delete removes the envelopes with the given IDs from recipient's queue, in one transaction.
// IDs that are not stored are ignored, so repeating a Delete is harmless.
func (s *Store) Delete(recipient string, ids ...string) error {
	key, ok := s.canonical(recipient)
	if !ok || len(ids) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		pb, ok := openPeer(tx, key)
		if !ok {
			return nil
		}
		var removed totals
		for _, id := range ids {
			n, err := removeByID(pb, id)
			if err != nil {
				return err
			}
			if n > 0 {
				removed.count++
				removed.bytes += uint64(n)
			}
		}
		return subtract(tx, pb, removed)
	})
	if err != nil {
		s.log.Error("delete envelopes failed", "recipient", key, "count", len(ids), "err", err)
		return fmt.Errorf("delete envelopes for %s from %s: %w", key, s.path, err)
	}
	return nil
}

// removeByID deletes one envelope and its index entries, and returns its wire size (0 when it
// was not stored).
func removeByID(pb peerBuckets, id string) (int, error) {
	seqBytes := pb.ids.Get([]byte(id))
	if seqBytes == nil {
		return 0, nil
	}
	seqBytes = append([]byte(nil), seqBytes...)
	rec := pb.msgs.Get(seqBytes)
	if len(seqBytes) != 8 || len(rec) < 8 {
		return 0, fmt.Errorf("damaged index entry for envelope %s", id)
	}
	storedAt := int64(binary.BigEndian.Uint64(rec))
	size := len(rec) - 8
	if err := pb.time.Delete(timeKey(storedAt, binary.BigEndian.Uint64(seqBytes))); err != nil {
		return 0, err
	}
	if err := pb.msgs.Delete(seqBytes); err != nil {
		return 0, err
	}
	return size, pb.ids.Delete([]byte(id))
}

// subtract lowers the peer's and the global counters by removed.
func subtract(tx *bolt.Tx, pb peerBuckets, removed totals) error {
	if removed.count == 0 {
		return nil
	}
	state, err := decodePeerState(pb.root.Get(keyState))
	if err != nil {
		return err
	}
	state.count -= min(state.count, removed.count)
	state.bytes -= min(state.bytes, removed.bytes)
	if err := pb.root.Put(keyState, state.encode()); err != nil {
		return err
	}
	tot, err := readTotals(tx)
	if err != nil {
		return err
	}
	tot.count -= min(tot.count, removed.count)
	tot.bytes -= min(tot.bytes, removed.bytes)
	return writeTotals(tx, tot)
}

// expireBatch bounds the envelopes removed in one transaction, so that Expire does not hold
// the write lock for long.
const expireBatch = 5_000

// Expire removes the envelopes stored more than MaxAge before now and returns how many it
// removed. Age counts from StoredAt, not from the envelope's own timestamp, which the sender
// chooses. A negative MaxAge turns expiry off.
func (s *Store) Expire(now time.Time) (int, error) {
	if s.opts.MaxAge < 0 {
		return 0, nil
	}
	cutoff := now.Add(-s.opts.MaxAge).UnixNano()
	peers, err := s.storedPeers()
	if err != nil {
		return 0, fmt.Errorf("expire envelopes in %s: %w", s.path, err)
	}
	total := 0
	for _, peer := range peers {
		for {
			n, err := s.expirePeer(peer, cutoff)
			total += n
			if err != nil {
				s.log.Error("expire envelopes failed", "recipient", peer, "err", err)
				return total, fmt.Errorf("expire envelopes for %s in %s: %w", peer, s.path, err)
			}
			if n < expireBatch {
				break
			}
		}
	}
	if total > 0 {
		s.log.Info("expired stored envelopes", "count", total, "max_age", s.opts.MaxAge)
	}
	return total, nil
}

// storedPeers lists the recipients with a queue in the database. It includes keys that were
// storage peers in an earlier run, so that their envelopes expire too.
func (s *Store) storedPeers() ([]string, error) {
	var peers []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPeers).ForEach(func(k, _ []byte) error {
			peers = append(peers, string(k))
			return nil
		})
	})
	return peers, err
}

// expirePeer removes up to expireBatch envelopes stored before cutoff (Unix nanoseconds).
func (s *Store) expirePeer(peer string, cutoff int64) (int, error) {
	removedCount := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		removedCount = 0
		pb, ok := openPeer(tx, peer)
		if !ok {
			return nil
		}
		var expired [][]byte
		c := pb.time.Cursor()
		for k, _ := c.First(); k != nil && len(expired) < expireBatch; k, _ = c.Next() {
			if len(k) != 16 || int64(binary.BigEndian.Uint64(k)) >= cutoff {
				break
			}
			expired = append(expired, append([]byte(nil), k...))
		}
		var removed totals
		for _, k := range expired {
			size, err := removeBySeq(pb, k[8:], k)
			if err != nil {
				return err
			}
			if size < 0 {
				continue
			}
			removed.count++
			removed.bytes += uint64(size)
		}
		removedCount = len(expired)
		return subtract(tx, pb, removed)
	})
	return removedCount, err
}

// removeBySeq deletes the envelope at seqBytes, whose time index key is timeK, and returns its
// wire size, or -1 when only the index entry was left.
func removeBySeq(pb peerBuckets, seqBytes, timeK []byte) (int, error) {
	if err := pb.time.Delete(timeK); err != nil {
		return 0, err
	}
	rec := pb.msgs.Get(seqBytes)
	if rec == nil {
		return -1, nil
	}
	st, err := decodeRecord(seqBytes, rec)
	if err != nil {
		return 0, err
	}
	size := len(rec) - 8
	if err := pb.msgs.Delete(seqBytes); err != nil {
		return 0, err
	}
	return size, pb.ids.Delete([]byte(st.Envelope.ID))
}

// RunExpiry calls Expire every interval until ctx is done. It logs errors and keeps running.
func (s *Store) RunExpiry(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			// Expire logs its own errors.
			_, _ = s.Expire(s.nowFunc())
		}
	}
}
