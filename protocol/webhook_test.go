package protocol

import (
	"strings"
	"testing"
)

func TestWebhookVectors(t *testing.T) {
	var cases []webhookVector
	readVectors(t, "webhook.json", &cases)
	keys := vectorKeys(t)
	known := map[string]bool{keys["alice"].PublicKey: true, keys["bob"].PublicKey: true}
	if len(cases) == 0 {
		t.Fatal("no webhook vectors read")
	}
	for _, v := range cases {
		t.Run(v.Name, func(t *testing.T) {
			e, err := DecodeWebhookFrom(v.Message, DefaultLimits(), func(from string) bool { return known[from] })
			if v.Expected.OK {
				if err != nil {
					t.Fatalf("DecodeWebhookFrom: %v", err)
				}
				if e.ID != v.Expected.ID {
					t.Fatalf("id = %s, want %s", e.ID, v.Expected.ID)
				}
				return
			}
			if got := ReasonOf(err); got != Reason(v.Expected.Reason) {
				t.Fatalf("reason = %q (err %v), want %q", got, err, v.Expected.Reason)
			}
		})
	}
}

func TestWebhookRoundTrip(t *testing.T) {
	k := mustKey(t, 1)
	e, err := CreateEnvelope(k, "request", []string{mustKey(t, 2).PublicKey().String()},
		map[string]any{"text": "<b>&</b> \u2028"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := EncodeWebhook(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, WebhookPrefix) {
		t.Fatalf("encoded text %q lacks the prefix", text)
	}
	if strings.ContainsAny(text[len(WebhookPrefix):], "+/=") {
		t.Fatalf("encoded body %q is not unpadded base64url", text)
	}
	got, err := DecodeWebhook(text, DefaultLimits())
	if err != nil {
		t.Fatalf("DecodeWebhook: %v", err)
	}
	if got.ID != e.ID {
		t.Fatalf("decoded id = %s, want %s", got.ID, e.ID)
	}
}

func TestWebhookTooLarge(t *testing.T) {
	body := strings.Repeat("A", 4096)
	_, err := DecodeWebhook(WebhookPrefix+body, Limits{MaxBytes: 1024})
	if got := ReasonOf(err); got != ReasonTooLarge {
		t.Fatalf("reason = %q, want %q", got, ReasonTooLarge)
	}
}
