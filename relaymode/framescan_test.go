package relaymode

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeFrameStd is the reference for scanFrame: json.Unmarshal into inFrame.
func decodeFrameStd(data []byte) (*inFrame, error) {
	var f inFrame
	err := json.Unmarshal(data, &f)
	if _, syntax := err.(*json.SyntaxError); syntax {
		return nil, errFrameSyntax
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// checkScanMatchesStd fails when scanFrame and json.Unmarshal disagree on data: on whether it
// is JSON, on whether a field has the wrong type, or on the decoded fields.
func checkScanMatchesStd(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := scanFrame(data)
	want, wantErr := decodeFrameStd(data)
	if (gotErr == errFrameSyntax) != (wantErr == errFrameSyntax) {
		t.Fatalf("%q: scanFrame error %v, encoding/json error %v", data, gotErr, wantErr)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: scanFrame error %v, encoding/json error %v", data, gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nscanFrame     %+v\nencoding/json %+v", data, got, want)
	}
}

var frameScanCases = []string{
	`{"type":"register","publicKey":"302a","signature":"00","acks":true,"metadata":{"name":"a","n":[1,2.5e3,-0.1]}}`,
	`{"type":"message","to":"k","envelope":{"id":"x","payload":{"a":[{"b":null}],"c":"\u00e9\n"}}}`,
	`{"type":"ping"}`,
	`{}`,
	` { "type" : "ack" , "id" : "a" } `,
	`{"TYPE":"ping","Type":"message","tO":"k"}`,
	`{"\u0074ype":"ping"}`,
	`{"type":"ping","type":"message"}`,
	`{"to":"a","to":null}`,
	`{"envelope":null}`,
	`{"envelope":"text"}`,
	`{"acks":null,"publicKey":null,"metadata":null}`,
	`{"metadata":{"a":1},"metadata":{"b":2}}`,
	`{"type":5}`,
	`{"acks":"yes"}`,
	`{"metadata":[1]}`,
	`{"to":{"x":1}}`,
	`{"type":"\ud800"}`,
	"{\"type\":\"\xff\"}",
	"{\"unknown\":\"\xff\"}",
	`{"type":"a\u0000b"}`,
	`{"x":01}`,
	`{"x":-}`,
	`{"x":1.}`,
	`{"x":1e}`,
	`{"x":-0.0e+5}`,
	`{"x":tru}`,
	`{"x":[1,]}`,
	`{"x":{"a":1,}}`,
	`{"x":{"a" 1}}`,
	`{"x":[}`,
	`{"x":{]}`,
	`{"x":1}}`,
	`{"x":1} x`,
	`{"x":"\q"}`,
	`{"x":"\u12"}`,
	"{\"x\":\"a\tb\"}",
	`{"type":"ping",}`,
	`{,}`,
	`{"a"}`,
	`{"x":[[[]],{}]}`,
}

func TestScanFrameMatchesEncodingJSON(t *testing.T) {
	for _, c := range frameScanCases {
		checkScanMatchesStd(t, []byte(c))
	}
}

func TestScanFrameDepthLimit(t *testing.T) {
	// encoding/json stops at a nesting depth of 10,000, the frame's object included.
	for _, depth := range []int{maxFrameDepth - 2, maxFrameDepth - 1, maxFrameDepth, maxFrameDepth + 5} {
		data := []byte(`{"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`)
		checkScanMatchesStd(t, data)
	}
	_, err := scanFrame([]byte(`{"x":` + strings.Repeat("[", maxFrameDepth) + strings.Repeat("]", maxFrameDepth) + `}`))
	if err != errFrameSyntax {
		t.Fatalf("nesting past the limit: err = %v, want errFrameSyntax", err)
	}
}

func TestScanFrameKeepsEnvelopeBytes(t *testing.T) {
	envelope := `{ "id" : "x", "payload" : "caf\u00e9" }`
	f, err := scanFrame([]byte(`{"type":"message","to":"k","envelope":` + envelope + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Envelope) != envelope {
		t.Fatalf("envelope = %s, want the bytes as sent: %s", f.Envelope, envelope)
	}
}

// FuzzScanFrame checks scanFrame against json.Unmarshal into inFrame. parseFrame passes it
// only frames that start with '{', so other inputs are wrapped in an object member.
func FuzzScanFrame(f *testing.F) {
	for _, c := range frameScanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
			data = append(append([]byte(`{"envelope":`), data...), '}')
		}
		checkScanMatchesStd(t, data)
	})
}
