package relaymode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/relaymode/client"
)

// selfSignedTLS returns a server config for 127.0.0.1 and a pool that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "agora test relay"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestTLSServesWSS(t *testing.T) {
	cfg := testConfig(t)
	serverTLS, pool := selfSignedTLS(t)
	cfg.TLS = serverTLS
	r := startRelay(t, cfg)
	if !strings.HasPrefix(r.WSURL(), "wss://") || !strings.HasPrefix(r.RESTURL(), "https://") {
		t.Fatalf("URLs %s and %s are not TLS", r.WSURL(), r.RESTURL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialer := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	alice, err := client.Dial(ctx, r.WSURL(), newKey(t), &client.Options{Dialer: dialer})
	if err != nil {
		t.Fatalf("wss client: %v", err)
	}
	defer alice.Close()
	bobKey := newKey(t)
	bob, err := client.Dial(ctx, r.WSURL(), bobKey, &client.Options{Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", "over tls", nil); err != nil {
		t.Fatalf("send over wss: %v", err)
	}
	<-bob.Messages()

	plain := "ws://" + strings.TrimPrefix(r.WSURL(), "wss://")
	if conn, _, err := websocket.DefaultDialer.DialContext(ctx, plain, nil); err == nil {
		conn.Close()
		t.Fatal("plain ws:// to the TLS port succeeded")
	}
	// The relay keeps serving after the failed plain handshake.
	if _, _, err := alice.Send(ctx, bobKey.PublicKey().String(), "request", "still over tls", nil); err != nil {
		t.Fatalf("send after a plain handshake attempt: %v", err)
	}
}
