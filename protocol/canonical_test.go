package protocol

import (
	"math"
	"testing"
)

func TestAppendNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1.5: "-1.5", 1e21: "1e+21", 1e20: "100000000000000000000",
		1e-7: "1e-7", 1e-6: "0.000001", 123456789.125: "123456789.125", 5e-324: "5e-324",
		1.7976931348623157e308: "1.7976931348623157e+308", 0.30000000000000004: "0.30000000000000004",
		math.Inf(1): "null", math.NaN(): "null", 1.5e-10: "1.5e-10", 2e-7: "2e-7", 12.5e22: "1.25e+23",
	}
	for f, want := range cases {
		if got := string(appendNumber(nil, f)); got != want {
			t.Errorf("appendNumber(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestCompareUTF16(t *testing.T) {
	// U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF61.
	if compareUTF16("\U0001F600", "\uFF61") >= 0 {
		t.Fatal("U+1F600 should sort before U+FF61")
	}
	if compareUTF16("a", "ab") >= 0 || compareUTF16("b", "a") <= 0 || compareUTF16("x", "x") != 0 {
		t.Fatal("ASCII order is wrong")
	}
	if compareUTF16("\U0001F600", "\U0001F601") >= 0 {
		t.Fatal("pairs with the same high surrogate compare by the low one")
	}
}

func TestAppendString(t *testing.T) {
	got := string(appendString(nil, "a\"\\\b\f\n\r\t\x01\x1f\x7f<>&\u2028\u2029é"))
	want := `"a\"\\\b\f\n\r\t\u0001\u001f` + "\x7f<>&\u2028\u2029é" + `"`
	if got != want {
		t.Fatalf("appendString = %s, want %s", got, want)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	cases := map[string]Reason{
		`{"a":1,"a":2}`:      ReasonDuplicateKey,
		`"\ud800"`:           ReasonInvalidString,
		`"\udc00\ud800"`:     ReasonInvalidString,
		`"\ud800\u0041"`:     ReasonInvalidString,
		`[[[]]]`:             ReasonTooDeep,
		`01`:                 ReasonMalformedJSON,
		`1.`:                 ReasonMalformedJSON,
		`"a` + "\n" + `"`:    ReasonMalformedJSON,
		`{"a" 1}`:            ReasonMalformedJSON,
		`[1,]`:               ReasonMalformedJSON,
		`tru`:                ReasonMalformedJSON,
		`"\x"`:               ReasonMalformedJSON,
		``:                   ReasonMalformedJSON,
		`{"a":1}{}`:          ReasonMalformedJSON,
		`"\u12"`:             ReasonMalformedJSON,
		`{"a":[1,2`:          ReasonMalformedJSON,
		`{1:2}`:              ReasonMalformedJSON,
		"\"\xc3\x28\"":       ReasonInvalidString,
		`"\ud83d\ude00"`:     "",
		` {"a" : [ 1e400 ]}`: "",
	}
	for in, want := range cases {
		_, err := decodeJSON([]byte(in), 2)
		if got := ReasonOf(err); got != want {
			t.Errorf("decodeJSON(%q) reason = %q (err %v), want %q", in, got, err, want)
		}
	}
}
