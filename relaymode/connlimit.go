package relaymode

import (
	"net/http"
	"sync"
)

// Reasons passed to Metrics.ConnectionRejected, which are also its label values.
const (
	rejectedMaxConns      = "max_connections"        // MaxConnections connections are open
	rejectedMaxConnsPerIP = "max_connections_per_ip" // the client's address has MaxConnectionsPerIP open
)

// connLimits counts open WebSocket connections, registered or not, in total and per client
// address. A connection counts from before its upgrade until its read loop ends, so a flood of
// connections that never register is bounded as well as one of registered sessions.
type connLimits struct {
	maxTotal int // 0: no limit
	maxPerIP int // 0: no limit

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newConnLimits(maxTotal, maxPerIP int) *connLimits {
	return &connLimits{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: make(map[string]int)}
}

// acquire counts a connection from ip, or returns the reason to reject it.
func (c *connLimits) acquire(ip string) (reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxTotal > 0 && c.total >= c.maxTotal {
		return rejectedMaxConns
	}
	if c.maxPerIP > 0 && c.perIP[ip] >= c.maxPerIP {
		return rejectedMaxConnsPerIP
	}
	c.total++
	c.perIP[ip]++
	return ""
}

// release removes a connection from ip from the counts.
func (c *connLimits) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.perIP[ip] <= 1 {
		delete(c.perIP, ip)
	} else {
		c.perIP[ip]--
	}
}

// rejectConnection writes the response to an upgrade request that a connection limit rejects:
// 503 when the relay is full, 429 when the client's address is. Both carry Retry-After,
// because the count falls as connections close.
func rejectConnection(w http.ResponseWriter, reason string) {
	w.Header().Set("Retry-After", "10")
	if reason == rejectedMaxConnsPerIP {
		writeError(w, http.StatusTooManyRequests, "Too many connections from this address")
		return
	}
	writeError(w, http.StatusServiceUnavailable, "Too many connections; try again later")
}
