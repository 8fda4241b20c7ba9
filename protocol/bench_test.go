package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

func benchWire(b *testing.B, payloadBytes int) []byte {
	b.Helper()
	bob := mustKey(b, 2).PublicKey().String()
	e, err := CreateEnvelope(mustKey(b, 1), "request", []string{bob},
		map[string]any{"text": strings.Repeat("x", payloadBytes-11)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(e)
	return data
}

func BenchmarkVerify200B(b *testing.B) { benchmarkVerify(b, 200) }
func BenchmarkVerify4KiB(b *testing.B) { benchmarkVerify(b, 4096) }

func benchmarkVerify(b *testing.B, size int) {
	data := benchWire(b, size)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreate200B(b *testing.B) { benchmarkCreate(b, 200) }
func BenchmarkCreate4KiB(b *testing.B) { benchmarkCreate(b, 4096) }

func benchmarkCreate(b *testing.B, size int) {
	k := mustKey(b, 1)
	to := []string{mustKey(b, 2).PublicKey().String()}
	payload := json.RawMessage(`{"text":"` + strings.Repeat("x", size-11) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CreateEnvelope(k, "request", to, payload, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical200B(b *testing.B) { benchmarkCanonical(b, 200) }
func BenchmarkCanonical4KiB(b *testing.B) { benchmarkCanonical(b, 4096) }

// benchmarkCanonical measures decoding the wire text and building the canonical form.
func benchmarkCanonical(b *testing.B, size int) {
	data := benchWire(b, size)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parse(data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the raw crypto/ed25519 verification of one canonical form of a
// 200-byte payload: the yardstick for BenchmarkVerify200B.
func BenchmarkEd25519Verify(b *testing.B) {
	e, canonical := benchCanonical(b)
	pk, _ := e.Sender()
	sig := mustKey(b, 1).Sign(canonical)
	for b.Loop() {
		if !ed25519.Verify(pk[:], canonical, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkVoiVerify is the same verification through curve25519-voi, which Verify uses.
func BenchmarkVoiVerify(b *testing.B) {
	e, canonical := benchCanonical(b)
	pk, _ := e.Sender()
	sig := mustKey(b, 1).Sign(canonical)
	for b.Loop() {
		if !pk.Verify(canonical, sig) {
			b.Fatal("verify failed")
		}
	}
}

func benchCanonical(b *testing.B) (*Envelope, []byte) {
	e, canonical, err := parse(benchWire(b, 200), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	return e, canonical
}

func BenchmarkGuardAdmit(b *testing.B) {
	g := NewGuard(GuardConfig{SenderRate: 0})
	k := mustKey(b, 1)
	envs := make([]*Envelope, 4096)
	for i := range envs {
		envs[i] = mustEnvelope(b, k, t0, i)
	}
	i := 0
	for b.Loop() {
		e := *envs[i%len(envs)]
		e.ID = e.ID[:60] + string(hexDigits[i&0xf]) + string(hexDigits[(i>>4)&0xf]) + string(hexDigits[(i>>8)&0xf]) + string(hexDigits[(i>>12)&0xf])
		_ = g.Admit(&e, t0)
		i++
	}
}

// BenchmarkVerify200BNewSenders verifies envelopes from more senders than the sender key cache
// holds, in turn, so that every key is decoded again: the cost for a sender seen for the
// first time.
func BenchmarkVerify200BNewSenders(b *testing.B) {
	const senders = senderKeyCacheSize * 2
	payload := json.RawMessage(`{"text":"` + strings.Repeat("x", 189) + `"}`)
	wires := make([][]byte, senders)
	for i := range wires {
		k, err := GenerateKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		env, err := CreateEnvelope(k, "request", nil, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		if wires[i], err = json.Marshal(env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Verify(wires[i%senders], DefaultLimits()); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
