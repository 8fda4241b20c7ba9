package relaymode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestRegisterMetadataTooLarge(t *testing.T) {
	r := startRelay(t, testConfig(t))
	big := map[string]any{"notes": strings.Repeat("x", MaxMetadataBytes)}

	k := newKey(t)
	c := dialRaw(t, r)
	nonce := c.next("challenge")["nonce"].(string)
	sig := k.Sign([]byte(ChallengeText(r.PublicKey(), nonce)))
	c.send(map[string]any{"type": "register", "publicKey": k.PublicKey().String(),
		"signature": hex.EncodeToString(sig), "metadata": big})
	e := c.next("error")
	if e["code"] != CodeInvalidFrame || !strings.Contains(e["message"].(string), "metadata") {
		t.Fatalf("WebSocket register with large metadata: %v, want %s naming metadata", e, CodeInvalidFrame)
	}

	rc := &restClient{t: t, base: r.RESTURL()}
	status, body, _ := rc.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(),
		"privateKey": k.PrivateKeyHex(), "metadata": big})
	if status != 400 || !strings.Contains(body["error"].(string), "metadata") {
		t.Fatalf("REST register with large metadata: %d %v, want 400 naming metadata", status, body)
	}

	// Characters that json.Marshal would escape for HTML count as the client wrote them.
	angled := map[string]any{"a": strings.Repeat("<", 1500)}
	status, body, _ = rc.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(),
		"privateKey": k.PrivateKeyHex(), "metadata": angled})
	if status != 200 {
		t.Fatalf("REST register with 1,500 '<' in metadata: %d %v, want 200", status, body)
	}

	// Metadata at the bound is accepted.
	small := map[string]any{"notes": strings.Repeat("x", MaxMetadataBytes-len(`{"notes":""}`))}
	status, body, _ = rc.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(),
		"privateKey": k.PrivateKeyHex(), "metadata": small})
	if status != 200 {
		t.Fatalf("REST register with metadata at the bound: %d %v", status, body)
	}
}

func TestPeerListFitsEnvelopeLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxBytes = 64 << 10
	r := startRelay(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	meta := map[string]any{"notes": strings.Repeat("m", MaxMetadataBytes-100)}
	const others = 30 // about 120 KiB of metadata, twice the envelope limit
	for range others {
		c, err := client.Dial(ctx, r.WSURL(), newKey(t), &client.Options{Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}

	alice, aliceKey := dialClient(t, r)
	env, _ := protocol.CreateEnvelope(aliceKey, "peer_list_request", []string{r.PublicKey()}, map[string]any{}, nil)
	if _, err := alice.SendEnvelope(ctx, r.PublicKey(), env); err != nil {
		t.Fatalf("SendEnvelope: %v", err)
	}

	select {
	case m := <-alice.Messages():
		var p struct {
			Peers      []map[string]any `json:"peers"`
			TotalPeers int              `json:"totalPeers"`
		}
		if err := json.Unmarshal(m.Envelope.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.TotalPeers != others || len(p.Peers) == 0 || len(p.Peers) >= others {
			t.Fatalf("%d of %d peers listed, want a non-empty part of %d", len(p.Peers), p.TotalPeers, others)
		}
		if n := len(m.Envelope.Payload); n > cfg.Limits.MaxBytes {
			t.Fatalf("payload of %d bytes exceeds the envelope limit %d", n, cfg.Limits.MaxBytes)
		}
	case <-ctx.Done():
		t.Fatal("no peer_list_response")
	}
}
