package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// webhookRequest is the body that the earlier implementation POSTs to a peer's {url}/agent
// (src/transport/http.ts): the webhook text in "message", plus fields its receivers expect.
type webhookRequest struct {
	Message    string `json:"message"`
	Name       string `json:"name"`
	SessionKey string `json:"sessionKey"`
	Deliver    bool   `json:"deliver"`
}

// webhookClient does not follow redirects, so that the bearer token goes only to the
// configured URL.
var webhookClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// sendWebhook POSTs the envelope to the peer's webhook. A 2xx status is delivery. A network
// error is retried once, as the earlier implementation does; an HTTP error status is not.
func (a *app) sendWebhook(ctx context.Context, p *sendPlan) error {
	text, err := protocol.EncodeWebhook(p.env)
	if err != nil {
		return err
	}
	from := p.env.From
	if len(from) > 16 {
		from = from[:16]
	}
	body, err := json.Marshal(webhookRequest{Message: text, Name: "Agora", SessionKey: "agora:" + from})
	if err != nil {
		return err
	}
	url := strings.TrimRight(p.to.Peer.URL, "/") + "/agent"
	var lastErr error
	for range 2 {
		status, err := postWebhook(ctx, url, p.to.Peer.Token, body)
		if err == nil {
			return nil
		}
		lastErr = err
		if status != 0 || ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

// postWebhook returns the HTTP status, or 0 for a network error.
func postWebhook(ctx context.Context, url, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("invalid webhook URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	detail := printable(strings.TrimSpace(string(snippet)), 200)
	if detail == "" {
		return resp.StatusCode, fmt.Errorf("POST %s: HTTP %s", url, resp.Status)
	}
	return resp.StatusCode, fmt.Errorf("POST %s: HTTP %s: %s", url, resp.Status, detail)
}
