package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Pending returns up to limit envelopes stored for recipient, oldest first.
func (s *Store) Pending(recipient string, limit int) ([]Stored, error) {
	return s.After(recipient, 0, limit)
}

// After returns up to limit envelopes with a Seq greater than seq, oldest first. Paging a
// backlog passes the Seq of the last envelope of the previous page. A limit that is not
// positive or is above MaxPage means MaxPage.
func (s *Store) After(recipient string, seq uint64, limit int) ([]Stored, error) {
	return s.readPeer(recipient, limit, func(pb peerBuckets, out []Stored, limit int) ([]Stored, error) {
		c := pb.msgs.Cursor()
		for k, v := c.Seek(seqKey(seq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			st, err := decodeRecord(k, v)
			if err != nil {
				return out, err
			}
			out = append(out, st)
		}
		return out, nil
	})
}

// Since returns up to limit envelopes stored at or after t, oldest first. A limit that is not
// positive or is above MaxPage means MaxPage.
func (s *Store) Since(recipient string, t time.Time, limit int) ([]Stored, error) {
	return s.readPeer(recipient, limit, func(pb peerBuckets, out []Stored, limit int) ([]Stored, error) {
		c := pb.time.Cursor()
		for k, _ := c.Seek(timeKey(t.UnixNano(), 0)); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) != 16 {
				return out, fmt.Errorf("damaged time index key of %d bytes", len(k))
			}
			rec := pb.msgs.Get(k[8:])
			if rec == nil {
				return out, fmt.Errorf("time index names missing record %d", binary.BigEndian.Uint64(k[8:]))
			}
			st, err := decodeRecord(k[8:], rec)
			if err != nil {
				return out, err
			}
			out = append(out, st)
		}
		return out, nil
	})
}

// readPeer runs scan in a read transaction on recipient's buckets, with limit bounded by
// pageSize. A recipient that is not a storage peer, or has nothing stored, reads as empty.
func (s *Store) readPeer(recipient string, limit int, scan func(pb peerBuckets, out []Stored, limit int) ([]Stored, error)) ([]Stored, error) {
	key, ok := s.canonical(recipient)
	if !ok {
		return nil, nil
	}
	var out []Stored
	err := s.db.View(func(tx *bolt.Tx) error {
		pb, ok := openPeer(tx, key)
		if !ok {
			return nil
		}
		var err error
		out, err = scan(pb, out, pageSize(limit))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read envelopes for %s from %s: %w", key, s.path, err)
	}
	return out, nil
}

func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPage {
		return MaxPage
	}
	return limit
}

// Stats are the depth and size of the store.
type Stats struct {
	Messages int   // envelopes stored, over all peers
	Bytes    int64 // wire size of those envelopes
	Peers    map[string]PeerStats
}

// PeerStats are the depth and size of one storage peer's queue.
type PeerStats struct {
	Messages int
	Bytes    int64
}

// Stats returns the number and wire size of stored envelopes, in total and per storage peer
// (by SPKI hex). The total also counts envelopes kept for keys that were storage peers in an
// earlier run. When the database cannot be read, Stats logs the error and returns zero counts.
func (s *Store) Stats() Stats {
	st := Stats{Peers: make(map[string]PeerStats, len(s.peers))}
	err := s.db.View(func(tx *bolt.Tx) error {
		tot, err := readTotals(tx)
		if err != nil {
			return err
		}
		st.Messages, st.Bytes = int(tot.count), int64(tot.bytes)
		for peer := range s.peers {
			ps := PeerStats{}
			if pb, ok := openPeer(tx, peer); ok {
				state, err := decodePeerState(pb.root.Get(keyState))
				if err != nil {
					return err
				}
				ps = PeerStats{Messages: int(state.count), Bytes: int64(state.bytes)}
			}
			st.Peers[peer] = ps
		}
		return nil
	})
	if err != nil {
		s.log.Error("read store stats failed", "path", s.path, "err", err)
		return Stats{Peers: map[string]PeerStats{}}
	}
	return st
}
