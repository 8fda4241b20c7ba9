package relaybench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// StormOptions configure Storm.
type StormOptions struct {
	Clients  int     // sessions that register during the storm
	Parallel int     // handshakes in progress at once (default 200)
	Rate     float64 // envelopes per second of the traffic pair during the storm (default 500)
	// Register registers the storm's sessions and keeps reading their frames until stop is
	// called. It returns the time from the first dial to the last registration. The default
	// is Clients, in this process. A load tool on the relay's machine can run them in another
	// process, so that the storm's clients do not take the traffic pair's CPU time.
	Register func(ctx context.Context, url string, n, parallel int) (elapsed time.Duration, stop func(), err error)
}

// Clients registers n sessions, at most parallel at a time, and reads their frames until stop
// is called. elapsed runs from the first dial to the last registration; keys are generated
// before it starts.
func Clients(ctx context.Context, url string, n, parallel int) (elapsed time.Duration, stop func(), err error) {
	keys, err := generateKeys(n)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	_, stop, err = registerDraining(ctx, url, keys, parallel)
	return time.Since(start), stop, err
}

// StormResult holds the figures of one Storm run.
type StormResult struct {
	Clients   int           `json:"clients"`
	Parallel  int           `json:"parallel"`
	Elapsed   time.Duration `json:"elapsedNs"` // from the first dial to the last registered reply
	ServerCPU time.Duration `json:"serverCpuNs"`
	// Traffic of the pair that kept sending during the storm. Lost counts envelopes that
	// neither arrived within trafficGrace after the storm nor were rejected.
	TrafficSent     int            `json:"trafficSent"`
	TrafficReceived int            `json:"trafficReceived"`
	TrafficLost     int            `json:"trafficLost"`
	TrafficRejected map[string]int `json:"trafficRejected,omitempty"`
	TrafficP50      time.Duration  `json:"trafficP50Ns"`
	TrafficP99      time.Duration  `json:"trafficP99Ns"`
	TrafficMax      time.Duration  `json:"trafficMaxNs"`
}

// Storm registers opts.Clients sessions at once while one pair keeps exchanging envelopes at
// opts.Rate. Every registration sends presence to the sessions already registered, which is
// the cost the storm measures.
func Storm(ctx context.Context, t Target, opts StormOptions) (*StormResult, error) {
	if opts.Clients <= 0 {
		return nil, fmt.Errorf("invalid storm size %d: it must be positive", opts.Clients)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 200
	}
	if opts.Rate <= 0 {
		opts.Rate = 500
	}
	if opts.Register == nil {
		opts.Register = Clients
	}

	keys, err := generateKeys(2)
	if err != nil {
		return nil, err
	}
	traffic, err := newTrafficPair(ctx, t.URL, keys[0], keys[1])
	if err != nil {
		return nil, err
	}
	cpuBefore, err := cpuOf(t.PID)
	if err != nil {
		traffic.stop()
		return nil, err
	}

	go traffic.send(opts.Rate)
	elapsed, stopDrain, err := opts.Register(ctx, t.URL, opts.Clients, opts.Parallel)
	cpuAfter, cpuErr := cpuOf(t.PID)
	traffic.finish(trafficGrace)

	if err != nil {
		return nil, err
	}
	defer stopDrain()
	if cpuErr != nil {
		return nil, cpuErr
	}
	res := &StormResult{Clients: opts.Clients, Parallel: opts.Parallel, Elapsed: elapsed, ServerCPU: cpuAfter - cpuBefore}
	traffic.fill(res)
	return res, nil
}

// trafficPair sends envelopes at a steady rate, signed as they go, and records the latency of
// each one that arrives.
// trafficGrace is how long the traffic pair waits for envelopes in transit after the storm.
const trafficGrace = 5 * time.Second

type trafficPair struct {
	sender, receiver *session
	quit             chan struct{}
	sendDone         chan struct{} // closed when send returns
	wg               sync.WaitGroup

	mu       sync.Mutex
	sentAt   map[string]time.Time
	latency  []int64
	sent     int
	rejected map[string]int
}

func newTrafficPair(ctx context.Context, url string, senderKey, receiverKey *protocol.KeyPair) (*trafficPair, error) {
	sessions, err := registerMany(ctx, url, []*protocol.KeyPair{senderKey, receiverKey}, 2)
	if err != nil {
		return nil, err
	}
	p := &trafficPair{sender: sessions[0], receiver: sessions[1], quit: make(chan struct{}),
		sendDone: make(chan struct{}), sentAt: map[string]time.Time{}, rejected: map[string]int{}}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.receive() }()
	go func() { defer p.wg.Done(); p.readVerdicts() }()
	return p, nil
}

func (p *trafficPair) send(rate float64) {
	defer close(p.sendDone)
	to := []string{p.receiver.publicKey()}
	ticker := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.quit:
			return
		case <-ticker.C:
		}
		env, err := protocol.CreateEnvelope(p.sender.key, "bench", to, fmt.Sprintf("storm traffic %d", i), nil)
		if err != nil {
			return
		}
		frame, err := messageFrame(env)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.sentAt[env.ID] = time.Now()
		p.sent++
		p.mu.Unlock()
		if err := p.sender.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			return
		}
	}
}

func (p *trafficPair) receive() {
	for {
		_, data, err := p.receiver.conn.ReadMessage()
		if err != nil {
			return
		}
		id := frameID(data)
		p.mu.Lock()
		if at, ok := p.sentAt[id]; ok {
			p.latency = append(p.latency, max(int64(time.Since(at)), 1))
			delete(p.sentAt, id)
		}
		p.mu.Unlock()
	}
}

func (p *trafficPair) readVerdicts() {
	_ = readErrorFrames(p.sender, func(code, id string) {
		p.mu.Lock()
		p.rejected[code]++
		delete(p.sentAt, id)
		p.mu.Unlock()
	})
}

// finish stops sending, waits up to grace for envelopes still in transit and closes the pair.
func (p *trafficPair) finish(grace time.Duration) {
	close(p.quit)
	<-p.sendDone // the last envelope is written, or its write failed
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		pending := len(p.sentAt)
		p.mu.Unlock()
		if pending == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
}

func (p *trafficPair) stop() {
	p.sender.close()
	p.receiver.close()
	p.wg.Wait()
}

func (p *trafficPair) fill(res *StormResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res.TrafficSent = p.sent
	res.TrafficReceived = len(p.latency)
	res.TrafficLost = len(p.sentAt)
	if len(p.rejected) > 0 {
		res.TrafficRejected = p.rejected
	}
	res.TrafficP50, res.TrafficP99, res.TrafficMax = percentiles(p.latency)
}
