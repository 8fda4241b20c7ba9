package metrics

import "github.com/agora-p2p/agora/relaymode"

// Metrics must satisfy the interface through which the relay reports its counts.
var _ relaymode.Metrics = (*Metrics)(nil)
