package relaymode

import (
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

func TestUndeliveredEnvelopeCanBeResent(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, carol := newKey(t), newKey(t)
	a := registerRaw(t, r, alice)
	ck := carol.PublicKey().String()
	env := mustEnvelope(t, alice, ck, "for carol")

	a.send(map[string]any{"type": "message", "to": ck, "envelope": env})
	if e := a.next("error"); e["code"] != CodeUnknownRecipient {
		t.Fatalf("send before carol registers: %v, want %s", e, CodeUnknownRecipient)
	}
	c := registerRaw(t, r, carol)
	a.send(map[string]any{"type": "message", "to": ck, "envelope": env})
	if f := a.next("delivered"); f["id"] != env.ID {
		t.Fatalf("resend once carol is online: %v", f)
	}
	if m := c.next("message"); m["envelope"].(map[string]any)["id"] != env.ID {
		t.Fatalf("carol got %v", m)
	}
	// Once delivered, the same envelope toward carol is a replay.
	a.send(map[string]any{"type": "message", "to": ck, "envelope": env})
	if e := a.next("error"); e["code"] != CodeDuplicate {
		t.Fatalf("third send: %v, want %s", e, CodeDuplicate)
	}
}

func TestEnvelopeReachesEachRecipient(t *testing.T) {
	r := startRelay(t, testConfig(t))
	alice, bob, carol := newKey(t), newKey(t), newKey(t)
	a := registerRaw(t, r, alice)
	b := registerRaw(t, r, bob)
	c := registerRaw(t, r, carol)
	bk, ck := bob.PublicKey().String(), carol.PublicKey().String()
	env, err := protocol.CreateEnvelope(alice, "publish", []string{bk, ck}, "to both", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{bk, ck} {
		a.send(map[string]any{"type": "message", "to": to, "envelope": env})
		if f := a.next("delivered"); f["id"] != env.ID {
			t.Fatalf("send toward %.12s: %v", to, f)
		}
	}
	for name, conn := range map[string]*rawConn{"bob": b, "carol": c} {
		if m := conn.next("message"); m["envelope"].(map[string]any)["id"] != env.ID {
			t.Fatalf("%s got %v", name, m)
		}
	}
	a.send(map[string]any{"type": "message", "to": bk, "envelope": env})
	if e := a.next("error"); e["code"] != CodeDuplicate {
		t.Fatalf("replay toward bob: %v, want %s", e, CodeDuplicate)
	}
}
