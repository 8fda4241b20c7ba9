package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCreateEnvelopeNormalizesRecipients(t *testing.T) {
	alice, bob, carol := mustKey(t, 1), mustKey(t, 2), mustKey(t, 3)
	b, c := bob.PublicKey().String(), carol.PublicKey().String()
	e, err := CreateEnvelope(alice, "request", []string{b, "", c, b}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.To) != 2 || e.To[0] != b || e.To[1] != c {
		t.Fatalf("to = %v, want [bob carol]", e.To)
	}
	self, err := CreateEnvelope(alice, "request", nil, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(self.To) != 1 || self.To[0] != alice.PublicKey().String() {
		t.Fatalf("to = %v, want [alice]", self.To)
	}
}

func TestEnvelopeMarshalVerifyRoundTrip(t *testing.T) {
	alice, bob := mustKey(t, 1), mustKey(t, 2)
	payload := json.RawMessage(`{"b":[1,2.50,"\u2028<&>"],"a":{"z":null,"y":true}}`)
	e, err := CreateEnvelope(alice, "response", []string{bob.PublicKey().String()}, payload,
		&CreateOptions{InReplyTo: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Payload); got != `{"a":{"y":true,"z":null},"b":[1,2.5,"`+"\u2028"+`<&>"]}` {
		t.Fatalf("canonical payload = %s", got)
	}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(data, DefaultLimits())
	if err != nil {
		t.Fatalf("Verify(%s): %v", data, err)
	}
	if got.ID != e.ID || got.InReplyTo != e.InReplyTo || string(got.Payload) != string(e.Payload) {
		t.Fatalf("round trip changed the envelope: %+v vs %+v", got, e)
	}
	if !got.IsRecipient(bob.PublicKey().String()) || got.IsRecipient(alice.PublicKey().String()) {
		t.Fatal("IsRecipient is wrong")
	}
}

func TestCreateEnvelopeErrors(t *testing.T) {
	k := mustKey(t, 1)
	if _, err := CreateEnvelope(k, "", nil, "x", nil); err == nil {
		t.Fatal("empty type accepted")
	}
	if _, err := CreateEnvelope(k, "request", nil, json.RawMessage(`{"a":`), nil); err == nil {
		t.Fatal("invalid payload JSON accepted")
	}
	if _, err := CreateEnvelope(k, "request", nil, func() {}, nil); err == nil {
		t.Fatal("unmarshalable payload accepted")
	}
}

// signedWire signs payload with the given recipients and returns the wire text.
func signedWire(t *testing.T, to []string, payload any) []byte {
	t.Helper()
	e, err := CreateEnvelope(mustKey(t, 1), "request", to, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(e)
	return data
}

func TestVerifyLimits(t *testing.T) {
	bob := mustKey(t, 2).PublicKey().String()
	many := make([]string, 101)
	for i := range many {
		many[i] = mustKey(t, byte(10+i)).PublicKey().String()
	}
	deep := json.RawMessage(strings.Repeat("[", 64) + strings.Repeat("]", 64))
	cases := []struct {
		name string
		data []byte
		lim  Limits
		want Reason
	}{
		{"too large", signedWire(t, []string{bob}, strings.Repeat("x", 2000)), Limits{MaxBytes: 1000}, ReasonTooLarge},
		{"too many recipients", signedWire(t, many, "x"), DefaultLimits(), ReasonTooManyRecipients},
		{"recipients at the limit", signedWire(t, many[:100], "x"), DefaultLimits(), ""},
		{"too deep", signedWire(t, []string{bob}, deep), DefaultLimits(), ReasonTooDeep},
		{"depth at the limit", signedWire(t, []string{bob}, deep[1:len(deep)-1]), DefaultLimits(), ""},
		{"recipient not a key", signedWire(t, []string{"bob"}, "x"), DefaultLimits(), ReasonInvalidRecipient},
		{"recipient upper case", signedWire(t, []string{strings.ToUpper(bob)}, "x"), DefaultLimits(), ReasonInvalidRecipient},
		{"not JSON", []byte("{"), DefaultLimits(), ReasonMalformedJSON},
		{"trailing data", append(signedWire(t, []string{bob}, "x"), '1'), DefaultLimits(), ReasonMalformedJSON},
		{"invalid UTF-8", []byte("{\"from\":\"\xff\"}"), DefaultLimits(), ReasonInvalidString},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.data, c.lim)
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("reason = %q (err %v), want %q", got, err, c.want)
			}
		})
	}
}

func TestParseSkipsSignature(t *testing.T) {
	data := signedWire(t, nil, "x")
	forged := strings.Replace(string(data), `"signature":"`, `"signature":"00`, 1)
	if _, err := Parse([]byte(forged), DefaultLimits()); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := Verify([]byte(forged), DefaultLimits()); err == nil {
		t.Fatal("Verify accepted a forged signature")
	}
}

func TestErrorText(t *testing.T) {
	err := error(&Error{Reason: ReasonStale, Detail: "old"})
	if err.Error() != "stale: old" {
		t.Fatalf("Error() = %q", err.Error())
	}
	if ReasonOf(nil) != "" || ReasonOf(json.Unmarshal([]byte("x"), new(int))) != "" {
		t.Fatal("ReasonOf of a foreign error is not empty")
	}
}
