package cli

import (
	"strings"
	"testing"
)

func TestRelayFlagErrors(t *testing.T) {
	isolate(t)
	cfg := newConfig(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--ws-addr", "9470"}, "invalid --ws-addr"},
		{[]string{"--ws-addr", ":9470"}, "the host is empty"},
		{[]string{"--rest-addr", "127.0.0.1:http-nope"}, "invalid --rest-addr"},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key"},
		{[]string{"--sender-rate-limit", "-1"}, "invalid --sender-rate-limit"},
		{[]string{"--max-peers", "-2"}, "invalid --max-peers"},
		{[]string{"--message-ttl", "-1s"}, "invalid --message-ttl"},
		{[]string{"--message-ttl", "soon"}, "invalid argument"},
		{[]string{"--storage-peers", "abc"}, "invalid --storage-peers"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,not-an-ip"}, `"not-an-ip"`},
	}
	for _, tc := range cases {
		r := runCLI(t, "", append([]string{"--config", cfg, "relay"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestRelayHelpNamesUnits(t *testing.T) {
	isolate(t)
	help := mustRun(t, "relay", "--help").stdout
	for _, want := range []string{"--ws-addr", "127.0.0.1:9470", "--message-ttl", "such as 24h", "per minute", "--jwt-secret-file"} {
		if !strings.Contains(help, want) {
			t.Errorf("relay --help lacks %q", want)
		}
	}
}
