package node

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/multiformats/go-varint"

	"github.com/agora-p2p/agora/protocol"
)

// expectReset checks that the receiver reset the stream: the next read fails without an ack.
func expectReset(t *testing.T, rs *rawStream) {
	t.Helper()
	a, err := readAck(rs.r)
	if err == nil {
		t.Fatalf("read an ack %+v, want the stream reset", a)
	}
	if errors.Is(err, io.EOF) {
		t.Fatalf("stream closed cleanly, want a reset")
	}
}

// expectServing checks that the node still acks envelopes from from on a new stream.
func expectServing(t *testing.T, from, to *Node) {
	t.Helper()
	rs := openRaw(t, from, to, EnvelopeProtocol)
	env := mustEnvelope(t, from.Identity(), []string{to.Identity().PublicKey().String()}, "after "+time.Now().String(), nil)
	if a := rs.roundTrip(t, mustWire(t, env)); !a.OK {
		t.Fatalf("ack on a new stream = %+v, want ok", a)
	}
}

func TestOversizedFrameResetsStream(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.Limits.MaxBytes = 4096 })
	a := newTestNode(t, nil)
	rs := openRaw(t, a, b, EnvelopeProtocol)
	rs.writeRaw(t, varint.ToUvarint(4097))
	expectReset(t, rs)
	expectServing(t, a, b)
}

func TestOversizedEnvelopeRejectedBySender(t *testing.T) {
	b := newTestNode(t, nil)
	a := newTestNode(t, func(c *Config) { c.Limits.MaxBytes = 1024 })
	connect(t, a, b)
	big := make([]byte, 2048)
	_, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", string(big), nil)
	if got := protocol.ReasonOf(err); got != protocol.ReasonTooLarge {
		t.Errorf("reason %q (err %v), want too_large", got, err)
	}
}

func TestGarbageFramesResetStream(t *testing.T) {
	b := newTestNode(t, nil)
	a := newTestNode(t, nil)
	cases := map[string][]byte{
		"not JSON":           frameBytes([]byte("hello, this is not an envelope")),
		"truncated JSON":     frameBytes([]byte(`{"id":"ab`)),
		"overlong varint":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"non-minimal varint": {0x85, 0x00},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			rs := openRaw(t, a, b, EnvelopeProtocol)
			rs.writeRaw(t, data)
			expectReset(t, rs)
			expectServing(t, a, b)
		})
	}
	for range 4 {
		if got := receive(t, b).Envelope.Payload; !strings.HasPrefix(string(got), `"after `) {
			t.Errorf("inbound payload = %s, want the envelopes sent after the garbage", got)
		}
	}
}

func TestTruncatedFrameResetsAfterTimeout(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.FrameTimeout = 300 * time.Millisecond })
	a := newTestNode(t, nil)
	rs := openRaw(t, a, b, EnvelopeProtocol)
	rs.writeRaw(t, append(varint.ToUvarint(100), []byte(`{"id":`)...))
	expectReset(t, rs)
	expectServing(t, a, b)
}

func TestIdleStreamClosed(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	a := newTestNode(t, nil)
	rs := openRaw(t, a, b, EnvelopeProtocol)
	if _, err := readAck(rs.r); !errors.Is(err, io.EOF) {
		t.Errorf("read on an idle stream: %v, want EOF", err)
	}
}

func frameBytes(body []byte) []byte {
	return append(varint.ToUvarint(uint64(len(body))), body...)
}

func TestStreamsPerPeerBounded(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.MaxStreamsPeer = 2 })
	a := newTestNode(t, nil)
	bKey := b.Identity().PublicKey().String()
	held := []*rawStream{openRaw(t, a, b, EnvelopeProtocol), openRaw(t, a, b, EnvelopeProtocol)}
	for i, rs := range held {
		if ack := rs.roundTrip(t, mustWire(t, mustEnvelope(t, a.Identity(), []string{bKey}, i, nil))); !ack.OK {
			t.Fatalf("stream %d: ack %+v, want ok", i, ack)
		}
	}

	extra := openRaw(t, a, b, EnvelopeProtocol)
	if err := writeFrame(extra.w, mustWire(t, mustEnvelope(t, a.Identity(), []string{bKey}, "third", nil))); err == nil {
		_ = extra.w.Flush()
	}
	if ack, err := readAck(extra.r); err == nil {
		t.Fatalf("third concurrent stream got ack %+v, want it reset by the resource manager", ack)
	}

	// Another peer is still served while a holds its streams.
	other := newTestNode(t, nil)
	expectServing(t, other, b)
}

func TestGarbageFloodKeepsServing(t *testing.T) {
	b := newTestNode(t, nil)
	flooder := newTestNode(t, nil)
	honest := newTestNode(t, nil)
	connect(t, flooder, b)
	connect(t, honest, b)
	bKey := b.Identity().PublicKey().String()

	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := flooder.Host().NewStream(testContext(t), b.PeerID(), EnvelopeProtocol)
			if err != nil {
				return
			}
			defer s.Reset()
			frame := frameBytes([]byte("garbage"))
			if i%2 == 0 {
				frame = varint.ToUvarint(1 << 30)
			}
			_, _ = s.Write(frame)
			_, _ = s.Read(make([]byte, 1))
		}()
	}
	for i := range 20 {
		env := mustEnvelope(t, honest.Identity(), []string{bKey}, fmt.Sprintf("honest %d", i), nil)
		if err := honest.SendEnvelope(testContext(t), b.PeerID(), env); err != nil {
			t.Fatalf("honest envelope %d during the flood: %v", i, err)
		}
	}
	wg.Wait()
	// The honest peer's stream stays open; every flood stream must have ended.
	eventually(t, 10*time.Second, "flood streams to end", func() bool {
		return b.activeStreams.Load() <= 1
	})
	if got := len(b.Inbound()); got != 20 {
		t.Errorf("%d envelopes queued, want the 20 honest ones", got)
	}
}
