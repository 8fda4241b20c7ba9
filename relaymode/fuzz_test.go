package relaymode

import (
	"encoding/json"
	"testing"
)

// FuzzParseFrame checks that any client frame either decodes to an object or gets an error
// code, and never panics.
func FuzzParseFrame(f *testing.F) {
	for _, seed := range []string{
		`{"type":"register","publicKey":"302a","signature":"00"}`,
		`{"type":"message","to":"k","envelope":{"id":"x"}}`,
		`{"type":"ping"}`, `[]`, `"x"`, `not json`, `{"type":5}`, ` {"type":"ack","id":"a"} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := parseFrame(data)
		if err != nil {
			if err.code == "" || err.message == "" {
				t.Fatalf("refusal without code or message: %+v", err)
			}
			return
		}
		if frame == nil {
			t.Fatal("no frame and no error")
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			t.Fatalf("accepted a frame that is not a JSON object: %q", data)
		}
	})
}
