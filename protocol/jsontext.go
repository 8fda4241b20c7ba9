package protocol

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/agora-p2p/agora/internal/jsonscan"
)

// This file holds a JSON decoder written for the canonical form instead of encoding/json.
// encoding/json replaces a lone UTF-16 surrogate escape (`"\ud800"`) with U+FFFD, so a signer
// and a verifier would hash different text. It also accepts duplicate keys silently and checks
// nesting depth only at 10,000 levels. This decoder reads a value the way ECMAScript JSON.parse
// does (every number becomes a float64) and rejects lone surrogates, duplicate keys and nesting
// deeper than Limits.MaxDepth with a Reason each. gowebpki/jcs v1.0.2 (read, not adopted) also
// rejects the first two, but with plain error strings that name no reason, and its depth bound
// is a fixed 10,000, so the `too_deep` limit of 64 could not be enforced with it.

// jsonObject is a decoded JSON object that keeps its members in input order.
type jsonObject struct {
	keys   []string
	values []any
}

// Decoded values are nil, bool, float64, string, []any or *jsonObject.

type decoder struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
}

// decodeJSON decodes one JSON text. maxDepth bounds the nesting of arrays and objects.
func decodeJSON(data []byte, maxDepth int) (any, error) {
	d := &decoder{data: data, maxDepth: maxDepth}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.syntaxError("unexpected data after the JSON value")
	}
	return v, nil
}

func (d *decoder) syntaxError(msg string) error {
	return newError(ReasonMalformedJSON, "%s at offset %d", msg, d.pos)
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.syntaxError("unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.syntaxError("invalid character " + strconv.QuoteRune(rune(c)))
	}
}

func (d *decoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.syntaxError("invalid literal")
	}
	d.pos += len(word)
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > d.maxDepth {
		return newError(ReasonTooDeep, "nesting deeper than %d levels", d.maxDepth)
	}
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // '{'
	obj := &jsonObject{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return obj, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.syntaxError("expected a string key")
		}
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		if err := d.expectColon(); err != nil {
			return nil, err
		}
		val, err := d.value()
		if err != nil {
			return nil, err
		}
		if err := obj.add(key, val); err != nil {
			return nil, err
		}
		done, err := d.next('}')
		if err != nil || done {
			d.depth--
			return obj, err
		}
	}
}

func (d *decoder) expectColon() error {
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != ':' {
		return d.syntaxError("expected ':'")
	}
	d.pos++
	d.skipSpace()
	return nil
}

// next consumes a ',' (returning false) or the closing byte (returning true).
func (d *decoder) next(closing byte) (bool, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false, d.syntaxError("unexpected end of input")
	}
	switch d.data[d.pos] {
	case ',':
		d.pos++
		return false, nil
	case closing:
		d.pos++
		return true, nil
	default:
		return false, d.syntaxError("expected ',' or '" + string(closing) + "'")
	}
}

func (o *jsonObject) add(key string, val any) error {
	// Envelope objects are small, so a linear scan beats a map until objects grow large.
	if len(o.keys) < 16 {
		for _, k := range o.keys {
			if k == key {
				return newError(ReasonDuplicateKey, "object key %q appears twice", abbreviate(key))
			}
		}
	} else if o.lookupIndex(key) >= 0 {
		return newError(ReasonDuplicateKey, "object key %q appears twice", abbreviate(key))
	}
	o.keys = append(o.keys, key)
	o.values = append(o.values, val)
	return nil
}

func (o *jsonObject) lookupIndex(key string) int {
	for i, k := range o.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// get returns the member named key and whether it is present.
func (o *jsonObject) get(key string) (any, bool) {
	if i := o.lookupIndex(key); i >= 0 {
		return o.values[i], true
	}
	return nil, false
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // '['
	arr := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return arr, nil
	}
	for {
		d.skipSpace()
		val, err := d.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, val)
		done, err := d.next(']')
		if err != nil || done {
			d.depth--
			return arr, err
		}
	}
}

func (d *decoder) number() (any, error) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if !d.digits() {
		return nil, d.syntaxError("invalid number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if !d.digits() {
			return nil, d.syntaxError("invalid number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if !d.digits() {
			return nil, d.syntaxError("invalid number")
		}
	}
	// ParseFloat rounds to the nearest double as ECMAScript does; out of range it returns ±Inf
	// with an error, and ECMAScript likewise reads such a literal as ±Infinity.
	f, err := strconv.ParseFloat(string(d.data[start:d.pos]), 64)
	if err != nil && !isRangeError(err) {
		return nil, d.syntaxError("invalid number")
	}
	return f, nil
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (d *decoder) digits() bool {
	start := d.pos
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos > start
}

// str decodes a string starting at the opening quote.
func (d *decoder) str() (string, error) {
	d.pos++ // opening quote
	start := d.pos
	// Fast path: no escapes, ASCII only.
	d.pos += jsonscan.PlainLen(d.data[d.pos:])
	if d.pos < len(d.data) && d.data[d.pos] == '"' {
		s := string(d.data[start:d.pos])
		d.pos++
		return s, nil
	}
	buf := append([]byte(nil), d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return string(buf), nil
		case c < 0x20:
			return "", d.syntaxError("control character in string")
		case c == '\\':
			var err error
			if buf, err = d.escape(buf); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.pos++
		default:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", newError(ReasonInvalidString, "invalid UTF-8 at offset %d", d.pos)
			}
			buf = append(buf, d.data[d.pos:d.pos+size]...)
			d.pos += size
		}
	}
	return "", d.syntaxError("unterminated string")
}

func (d *decoder) escape(buf []byte) ([]byte, error) {
	if d.pos+1 >= len(d.data) {
		return nil, d.syntaxError("unterminated escape")
	}
	c := d.data[d.pos+1]
	d.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		return d.unicodeEscape(buf)
	default:
		return nil, d.syntaxError("invalid escape")
	}
}

func (d *decoder) unicodeEscape(buf []byte) ([]byte, error) {
	r, ok := d.hex4()
	if !ok {
		return nil, d.syntaxError("invalid \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return utf8.AppendRune(buf, r), nil
	}
	if r < 0xdc00 && d.pos+1 < len(d.data) && d.data[d.pos] == '\\' && d.data[d.pos+1] == 'u' {
		d.pos += 2
		low, ok := d.hex4()
		if !ok {
			return nil, d.syntaxError("invalid \\u escape")
		}
		if combined := utf16.DecodeRune(r, low); combined != utf8.RuneError {
			return utf8.AppendRune(buf, combined), nil
		}
	}
	return nil, newError(ReasonInvalidString, "lone UTF-16 surrogate before offset %d", d.pos)
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.data)-d.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.pos += 4
	return r, true
}
