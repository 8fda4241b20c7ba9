package protocol

import (
	"encoding/base64"
	"strings"
)

// WebhookPrefix starts the webhook text form of an envelope.
const WebhookPrefix = "[AGORA_ENVELOPE]"

// EncodeWebhook returns WebhookPrefix followed by the envelope JSON in unpadded base64url.
func EncodeWebhook(e *Envelope) (string, error) {
	data, err := e.MarshalJSON()
	if err != nil {
		return "", err
	}
	return WebhookPrefix + base64.RawURLEncoding.EncodeToString(data), nil
}

// DecodeWebhook reads the webhook text form and verifies the envelope inside. It accepts the
// base64url and standard alphabets, padded or not, as the earlier implementation does.
func DecodeWebhook(text string, lim Limits) (*Envelope, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, WebhookPrefix) {
		return nil, newError(ReasonNotAgoraMessage, "text does not start with %s", WebhookPrefix)
	}
	body := text[len(WebhookPrefix):]
	lim = lim.WithDefaults()
	if base64.RawURLEncoding.DecodedLen(len(body)) > lim.MaxBytes+3 {
		return nil, newError(ReasonTooLarge, "webhook body of %d characters exceeds the envelope limit", len(body))
	}
	data, err := decodeBase64(body)
	if err != nil {
		return nil, err
	}
	e, err := Verify(data, lim)
	if ReasonOf(err) == ReasonMalformedJSON {
		return nil, newError(ReasonInvalidJSON, "%s", err.(*Error).Detail)
	}
	return e, err
}

func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, newError(ReasonInvalidBase64, "nothing follows the prefix")
	}
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, newError(ReasonInvalidBase64, "%v", err)
	}
	return data, nil
}

// DecodeWebhookFrom is DecodeWebhook for a receiver that accepts only known senders: an
// envelope whose `from` fails isKnown is rejected with ReasonUnknownSender.
func DecodeWebhookFrom(text string, lim Limits, isKnown func(from string) bool) (*Envelope, error) {
	e, err := DecodeWebhook(text, lim)
	if err != nil {
		return nil, err
	}
	if !isKnown(e.From) {
		return nil, newError(ReasonUnknownSender, "sender %s is not a known peer", abbreviate(e.From))
	}
	return e, nil
}
