package protocol

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/agora-p2p/agora/internal/jsonscan"
)

// appendCanonical appends v in canonical form: object keys sorted by UTF-16 code units, no
// whitespace, strings and numbers written as ECMAScript JSON.stringify writes them (the rules
// that RFC 8785 also uses).
func appendCanonical(buf []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...)
	case bool:
		return strconv.AppendBool(buf, v)
	case float64:
		return appendNumber(buf, v)
	case string:
		return appendString(buf, v)
	case []any:
		buf = append(buf, '[')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendCanonical(buf, e)
		}
		return append(buf, ']')
	case *jsonObject:
		return appendObject(buf, v)
	default:
		panic("protocol: canonical form of an unsupported type")
	}
}

func appendObject(buf []byte, o *jsonObject) []byte {
	order := make([]int, len(o.keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return compareUTF16(o.keys[a], o.keys[b]) })
	buf = append(buf, '{')
	for n, i := range order {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, o.keys[i])
		buf = append(buf, ':')
		buf = appendCanonical(buf, o.values[i])
	}
	return append(buf, '}')
}

// compareUTF16 orders strings by their UTF-16 code units, as ECMAScript's default sort does.
// UTF-8 byte order differs from it only where a character above U+FFFF (a surrogate pair,
// starting 0xD800–0xDBFF) meets one in U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for len(a) > 0 && len(b) > 0 {
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := firstUTF16Unit(ra), firstUTF16Unit(rb)
			if ua != ub {
				return int(ua) - int(ub)
			}
			return int(ra) - int(rb)
		}
		a, b = a[sa:], b[sb:]
	}
	return len(a) - len(b)
}

func firstUTF16Unit(r rune) rune {
	if r < 0x10000 {
		return r
	}
	return 0xd800 + (r-0x10000)>>10
}

const hexDigits = "0123456789abcdef"

// appendString writes s as JSON.stringify does: the two-character escapes for \b \t \n \f \r,
// `"` and `\`, \u00xx for other control characters, and every other character as itself (no
// HTML escaping, U+2028 and U+2029 unescaped).
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		i += jsonscan.PlainLen(s[i:])
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue // non-ASCII, written as it is
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendNumber writes f as ECMAScript Number.prototype.toString does (ECMA-262 Number::toString,
// radix 10): the shortest digits that round-trip, plain notation for exponents from -7 to 20,
// exponent notation otherwise. JSON.stringify writes NaN and ±Infinity as null and -0 as 0.
func appendNumber(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, "null"...)
	}
	if f == 0 {
		return append(buf, '0')
	}
	if f < 0 {
		buf = append(buf, '-')
		f = -f
	}
	// Shortest round-trip digits in the form d.ddddde±XX.
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	mant, exp := splitExponent(e)
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	k := len(digits)
	n := exp + 1 // the value is 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		buf = append(buf, digits...)
		for i := 0; i < n-k; i++ {
			buf = append(buf, '0')
		}
	case 0 < n && n <= 21:
		buf = append(buf, digits[:n]...)
		buf = append(buf, '.')
		buf = append(buf, digits[n:]...)
	case -6 < n && n <= 0:
		buf = append(buf, '0', '.')
		for i := 0; i < -n; i++ {
			buf = append(buf, '0')
		}
		buf = append(buf, digits...)
	default:
		buf = append(buf, digits[0])
		if k > 1 {
			buf = append(buf, '.')
			buf = append(buf, digits[1:]...)
		}
		buf = append(buf, 'e')
		if n-1 >= 0 {
			buf = append(buf, '+')
		}
		buf = strconv.AppendInt(buf, int64(n-1), 10)
	}
	return buf
}

func splitExponent(e []byte) ([]byte, int) {
	for i, c := range e {
		if c == 'e' {
			exp, _ := strconv.Atoi(string(e[i+1:]))
			return e[:i], exp
		}
	}
	return e, 0
}
