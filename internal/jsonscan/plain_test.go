package jsonscan

import (
	"strings"
	"testing"
)

func plainLenByBytes(b []byte) int {
	for i, c := range b {
		if !plain(c) {
			return i
		}
	}
	return len(b)
}

func TestPlainLenStopsAtEachSpecialByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 20; pos++ {
			b := []byte(strings.Repeat("a", pos) + string([]byte{byte(c)}) + strings.Repeat("b", 11))
			want := plainLenByBytes(b)
			if got := PlainLen(b); got != want {
				t.Fatalf("byte %#x at %d: PlainLen = %d, want %d", c, pos, got, want)
			}
		}
	}
}

func TestPlainLenWholeInput(t *testing.T) {
	for n := 0; n < 40; n++ {
		b := []byte(strings.Repeat("x", n))
		if got := PlainLen(b); got != n {
			t.Fatalf("%d plain bytes: PlainLen = %d", n, got)
		}
	}
}

func FuzzPlainLen(f *testing.F) {
	f.Add([]byte(`hello "world"`))
	f.Add([]byte("tab\there"))
	f.Add([]byte("caf\xc3\xa9 and more text"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := PlainLen(b), plainLenByBytes(b); got != want {
			t.Fatalf("%q: PlainLen = %d, want %d", b, got, want)
		}
	})
}

func BenchmarkPlainLen4KiB(b *testing.B) {
	data := []byte(strings.Repeat("x", 4096) + `"`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		PlainLen(data)
	}
}

func BenchmarkPlainLenByBytes4KiB(b *testing.B) {
	data := []byte(strings.Repeat("x", 4096) + `"`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		plainLenByBytes(data)
	}
}

func TestPlainLenString(t *testing.T) {
	s := strings.Repeat("y", 13) + "\n" + strings.Repeat("z", 9)
	if got := PlainLen(s); got != 13 {
		t.Fatalf("PlainLen of a string = %d, want 13", got)
	}
}
