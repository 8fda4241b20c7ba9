// Package jsonscan holds the byte scanning that the JSON decoders of protocol and relaymode
// share.
package jsonscan

const (
	ones = 0x0101010101010101 // 0x01 in every byte
	high = 0x8080808080808080 // the top bit of every byte
)

// PlainLen returns how many leading bytes of b can stand in a JSON string as they are: ASCII
// that is neither a quote, a backslash nor a control character. A decoder copies that run and
// handles the byte after it, if any, by itself.
//
// It tests eight bytes at a time with word arithmetic: on 4 KiB of plain text that was two to
// four times faster than a loop over bytes (BenchmarkPlainLen4KiB against
// BenchmarkPlainLenByBytes4KiB).
func PlainLen[T string | []byte](b T) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := load64(b, i)
		if x&high != 0 || hasZero(x^(ones*'"')) || hasZero(x^(ones*'\\')) || hasLess0x20(x) {
			break
		}
	}
	for ; i < len(b); i++ {
		if !plain(b[i]) {
			return i
		}
	}
	return i
}

// load64 reads the eight bytes of b from i on as a little-endian word. It is written with
// shifts so that it serves strings and byte slices alike.
func load64[T string | []byte](b T, i int) uint64 {
	_ = b[i+7]
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

func plain(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
}

// hasZero reports whether any byte of x is zero.
func hasZero(x uint64) bool {
	return (x-ones)&^x&high != 0
}

// hasLess0x20 reports whether any byte of x is below 0x20, for x whose bytes are all below 0x80.
func hasLess0x20(x uint64) bool {
	return (x-ones*0x20)&^x&high != 0
}
