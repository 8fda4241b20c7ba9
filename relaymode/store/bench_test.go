package store

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/agora-p2p/agora/protocol"
)

// benchEnvelope returns copies of one signed envelope with distinct IDs. The store does not
// verify envelopes, so only the ID has to differ, and no signing time counts in the benchmark.
func benchEnvelope(b *testing.B, peer string) func(n uint64) *protocol.Envelope {
	template := newEnvelope(b, newKey(b), peer, 0)
	return func(n uint64) *protocol.Envelope {
		e := *template
		e.ID = fmt.Sprintf("%064x", n)
		return &e
	}
}

func benchStore(b *testing.B, noBatch bool) (*Store, string) {
	return testStore(b, Options{NoBatch: noBatch, MaxPerPeer: -1, MaxBytesPerPeer: -1, MaxTotalBytes: -1})
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPutSerialFsync is one writer, one transaction and one fsync per Put.
func BenchmarkPutSerialFsync(b *testing.B) {
	s, peer := benchStore(b, true)
	envelope := benchEnvelope(b, peer)
	ctx := context.Background()
	var n uint64
	for b.Loop() {
		n++
		if err := s.Put(ctx, peer, envelope(n)); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// benchParallelPut runs Put from 64 goroutines (SetParallelism 32 on 2 cores; the count is
// 32 × GOMAXPROCS).
func benchParallelPut(b *testing.B, noBatch bool, boltDelay time.Duration) {
	s, peer := benchStore(b, noBatch)
	if boltDelay > 0 {
		s.boltBatch = true
		s.db.MaxBatchDelay = boltDelay
	}
	envelope := benchEnvelope(b, peer)
	ctx := context.Background()
	var n atomic.Uint64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Put(ctx, peer, envelope(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkPutParallelFsync is many writers, each Put in its own transaction and fsync.
func BenchmarkPutParallelFsync(b *testing.B) { benchParallelPut(b, true, 0) }

// BenchmarkPutParallelGroup is many writers sharing transactions and fsyncs through the group
// committer, the default.
func BenchmarkPutParallelGroup(b *testing.B) { benchParallelPut(b, false, 0) }

// BenchmarkPutParallelBoltBatch is many writers sharing transactions through bbolt's DB.Batch,
// with its default delay of 10ms and with shorter ones.
func BenchmarkPutParallelBoltBatch(b *testing.B) {
	for _, delay := range []time.Duration{10 * time.Millisecond, time.Millisecond, 250 * time.Microsecond} {
		b.Run(delay.String(), func(b *testing.B) { benchParallelPut(b, false, delay) })
	}
}

// BenchmarkBacklogRead reads a backlog of 100,000 envelopes in order with After, in pages of
// 1,000, as a relay does when a storage peer connects.
func BenchmarkBacklogRead(b *testing.B) {
	const backlog, page = 100_000, 1_000
	s, peer := benchStore(b, true)
	envelope := benchEnvelope(b, peer)
	for chunk := range backlog / 10_000 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := range 10_000 {
				e := envelope(uint64(chunk*10_000 + i + 1))
				wire, _ := e.MarshalJSON()
				if _, err := s.putTx(tx, peer, e.ID, wire); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	read := 0
	for b.Loop() {
		var last uint64
		read = 0
		for {
			got, err := s.After(peer, last, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			if got[0].Seq != last+1 {
				b.Fatalf("page starts at Seq %d, want %d", got[0].Seq, last+1)
			}
			read += len(got)
			last = got[len(got)-1].Seq
		}
	}
	if read != backlog {
		b.Fatalf("read %d envelopes, want %d", read, backlog)
	}
	b.ReportMetric(float64(b.N)*backlog/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEd25519Verify is the reference rate: one signature check with crypto/ed25519, which
// every envelope costs before it reaches the store.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 300)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
	}
	reportRate(b)
}
