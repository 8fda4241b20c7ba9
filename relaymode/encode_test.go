package relaymode

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

func TestEncodeMessageMatchesEncodingJSON(t *testing.T) {
	k := newKey(t)
	env, err := protocol.CreateEnvelope(k, "request", nil, map[string]any{"text": "a \"quoted\" <tag> \u2028"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeMessage(env)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(struct {
		Type     string             `json:"type"`
		From     string             `json:"from"`
		Envelope *protocol.Envelope `json:"envelope"`
	}{"message", env.From, env})
	if err != nil {
		t.Fatal(err)
	}
	// encoding/json escapes <, > and U+2028, the envelope encoder does not, as JSON.stringify
	// does not; the decoded values must be equal.
	var gotValue, wantValue any
	if err := json.Unmarshal(got, &gotValue); err != nil {
		t.Fatalf("encodeMessage output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &wantValue); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotValue, wantValue) {
		t.Errorf("encodeMessage =\n%s\nwant\n%s", got, want)
	}
	if _, err := protocol.Verify(mustEnvelopeField(t, got), protocol.DefaultLimits()); err != nil {
		t.Errorf("envelope in the frame does not verify: %v", err)
	}
}

func mustEnvelopeField(t *testing.T, frame []byte) []byte {
	t.Helper()
	var f struct {
		Envelope json.RawMessage `json:"envelope"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	return f.Envelope
}

func TestEncodeVerdict(t *testing.T) {
	cases := []struct {
		out  outcome
		want string
	}{
		{outcomeDelivered, `{"type":"delivered","id":"ab12"}`},
		{outcomeStored, `{"type":"stored","id":"ab12"}`},
		{outcomeForwarded, `{"type":"delivered","id":"ab12","via":"mesh"}`},
	}
	for _, tc := range cases {
		if got := string(encodeVerdict(tc.out, "ab12")); got != tc.want {
			t.Errorf("encodeVerdict(%s) = %s, want %s", tc.out, got, tc.want)
		}
	}
}
