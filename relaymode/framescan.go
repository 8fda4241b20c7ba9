package relaymode

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/agora-p2p/agora/internal/jsonscan"
)

// scanFrame decodes a client frame that starts with '{' into f, reading each byte once.
//
// It replaces json.Unmarshal, which checks the syntax of the whole frame, then decodes it, and
// scans the envelope once more to capture it as json.RawMessage. With a 4 KiB envelope, those
// three passes took about a third of the relay's CPU time for reading and verifying a frame. The envelope is only
// delimited here, because protocol.Verify parses it strictly. The result matches
// json.Unmarshal into inFrame, which FuzzScanFrame checks: keys match case-insensitively, the
// last of a repeated key wins, null leaves a field unset, invalid UTF-8 in strings becomes
// U+FFFD, and nesting deeper than 10,000 is a syntax error.
//
// The error is errFrameSyntax when the frame is not JSON; any other error names a field of the
// wrong type, and is returned only for a frame whose syntax is valid.
func scanFrame(data []byte) (*inFrame, error) {
	s := frameScanner{data: data}
	f := &inFrame{}
	s.skipSpace()
	if err := s.object(f); err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(s.data) {
		return nil, errFrameSyntax
	}
	if s.typeErr != nil {
		return nil, s.typeErr
	}
	return f, nil
}

// errFrameSyntax reports a frame that is not valid JSON.
var errFrameSyntax = errors.New("the frame is not JSON")

// maxFrameDepth is the nesting depth at which encoding/json stops with a syntax error.
const maxFrameDepth = 10000

type frameScanner struct {
	data    []byte
	pos     int
	stack   []byte // kinds ('{' or '[') of the containers open in skipValue
	typeErr error  // the first field of the wrong type; syntax errors take precedence
}

func (s *frameScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// object reads the frame's top-level object into f.
func (s *frameScanner) object(f *inFrame) error {
	if !s.consume('{') {
		return errFrameSyntax
	}
	s.skipSpace()
	if s.consume('}') {
		return nil
	}
	for {
		s.skipSpace()
		key, ok := s.str()
		if !ok {
			return errFrameSyntax
		}
		s.skipSpace()
		if !s.consume(':') {
			return errFrameSyntax
		}
		s.skipSpace()
		start := s.pos
		if !s.skipValue() {
			return errFrameSyntax
		}
		s.field(f, key, s.data[start:s.pos])
		s.skipSpace()
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return errFrameSyntax
		}
	}
}

// field stores one member's value, whose syntax is already checked, in the field that
// json.Unmarshal would pick for key.
func (s *frameScanner) field(f *inFrame, key string, value []byte) {
	switch {
	case foldEqual(key, "type"):
		s.setString(&f.Type, key, value)
	case foldEqual(key, "publicKey"):
		s.setStringPtr(&f.PublicKey, key, value)
	case foldEqual(key, "signature"):
		s.setString(&f.Signature, key, value)
	case foldEqual(key, "to"):
		s.setStringPtr(&f.To, key, value)
	case foldEqual(key, "id"):
		s.setString(&f.ID, key, value)
	case foldEqual(key, "envelope"):
		f.Envelope = json.RawMessage(value)
	case foldEqual(key, "acks"):
		switch string(value) {
		case "true":
			f.Acks = true
		case "false":
			f.Acks = false
		case "null":
		default:
			s.wrongType(key, "a boolean")
		}
	case foldEqual(key, "metadata"):
		// Only register frames carry it: encoding/json decodes it, merging a repeated key as
		// Unmarshal does.
		if err := json.Unmarshal(value, &f.Metadata); err != nil {
			s.wrongType(key, "an object")
		}
	}
}

// foldEqual matches a key to a field name as encoding/json does: exactly, or else under
// Unicode case folding.
func foldEqual(key, name string) bool {
	return key == name || strings.EqualFold(key, name)
}

// setString stores a string value in dst and reports whether it did. null leaves dst as it
// is, as encoding/json does.
func (s *frameScanner) setString(dst *string, key string, value []byte) bool {
	if string(value) == "null" {
		return false
	}
	v, ok := decodeString(value)
	if !ok {
		s.wrongType(key, "a string")
		return false
	}
	*dst = v
	return true
}

// setStringPtr stores a string value in a new string that dst points to. null sets dst to
// nil, as encoding/json does.
func (s *frameScanner) setStringPtr(dst **string, key string, value []byte) {
	if string(value) == "null" {
		*dst = nil
		return
	}
	if v := new(string); s.setString(v, key, value) {
		*dst = v
	}
}

func (s *frameScanner) wrongType(key, want string) {
	if s.typeErr == nil {
		s.typeErr = fmt.Errorf("field %.64q must be %s", key, want)
	}
}

// decodeString decodes a JSON string whose syntax is checked. ASCII strings without escapes
// are copied as they are, and the rest go through encoding/json.
func decodeString(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' {
		return "", false
	}
	inner := value[1 : len(value)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), true
	}
	var v string
	if err := json.Unmarshal(value, &v); err != nil {
		return "", false
	}
	return v, true
}

func (s *frameScanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// str reads a string and returns its decoded text.
func (s *frameScanner) str() (string, bool) {
	start := s.pos
	if !s.skipString() {
		return "", false
	}
	return decodeString(s.data[start:s.pos])
}

// skipString passes over a string, checking its escapes and that it holds no control
// characters.
func (s *frameScanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for s.pos < len(s.data) {
		s.pos += jsonscan.PlainLen(s.data[s.pos:])
		if s.pos >= len(s.data) {
			break
		}
		c := s.data[s.pos]
		s.pos++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if !s.skipEscape() {
				return false
			}
		}
	}
	return false
}

func (s *frameScanner) skipEscape() bool {
	if s.pos >= len(s.data) {
		return false
	}
	c := s.data[s.pos]
	s.pos++
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		if s.pos+4 > len(s.data) {
			return false
		}
		for _, h := range s.data[s.pos : s.pos+4] {
			if !isHexDigit(h) {
				return false
			}
		}
		s.pos += 4
		return true
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipValue passes over one value of any kind. Open containers are tracked in s.stack, not
// by recursion, so a deeply nested frame cannot grow the goroutine stack.
func (s *frameScanner) skipValue() bool {
	s.stack = s.stack[:0]
	for {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false
		}
		c := s.data[s.pos]
		switch {
		case c == '{' || c == '[':
			// The frame's own object is one level, as it is for encoding/json.
			if len(s.stack) >= maxFrameDepth-1 {
				return false
			}
			s.stack = append(s.stack, c)
			s.pos++
			s.skipSpace()
			if !s.consume(closer(c)) {
				if c == '{' && !s.memberKey() {
					return false
				}
				continue
			}
			s.stack = s.stack[:len(s.stack)-1]
		case c == '"':
			if !s.skipString() {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			if !s.skipNumber() {
				return false
			}
		case c == 't':
			if !s.literal("true") {
				return false
			}
		case c == 'f':
			if !s.literal("false") {
				return false
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		default:
			return false
		}
		if !s.afterValue() {
			return false
		}
		if len(s.stack) == 0 {
			return true
		}
	}
}

// afterValue reads what follows a complete value inside open containers: closing brackets,
// then a comma and, in an object, the next member's key and colon.
func (s *frameScanner) afterValue() bool {
	for len(s.stack) > 0 {
		s.skipSpace()
		if s.pos >= len(s.data) {
			return false
		}
		top := s.stack[len(s.stack)-1]
		switch s.data[s.pos] {
		case ',':
			s.pos++
			if top == '{' {
				s.skipSpace()
				return s.memberKey()
			}
			return true
		case closer(top):
			s.pos++
			s.stack = s.stack[:len(s.stack)-1]
		default:
			return false
		}
	}
	return true
}

// memberKey reads an object member's key and the colon after it.
func (s *frameScanner) memberKey() bool {
	if !s.skipString() {
		return false
	}
	s.skipSpace()
	return s.consume(':')
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

// skipNumber passes over a number in JSON's grammar: an optional minus, an integer part
// without leading zeros, an optional fraction and an optional exponent.
func (s *frameScanner) skipNumber() bool {
	s.consume('-')
	switch {
	case s.consume('0'):
	case s.digits() == 0:
		return false
	}
	if s.consume('.') && s.digits() == 0 {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits passes over decimal digits and returns how many there were.
func (s *frameScanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

func (s *frameScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}
