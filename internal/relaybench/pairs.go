package relaybench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
)

// PairsOptions configure Pairs.
type PairsOptions struct {
	Pairs    int     // sender/receiver pairs, each with its own two connections
	Size     int     // payload bytes per envelope
	Messages int     // envelopes in all, split evenly between the pairs
	Window   int     // envelopes per pair sent but not yet received (default 16)
	Rate     float64 // envelopes per second per pair; 0 sends as fast as the window allows
}

// PairsResult holds the figures of one Pairs run.
type PairsResult struct {
	Pairs     int            `json:"pairs"`
	Size      int            `json:"size"`
	Messages  int            `json:"messages"`
	Received  int            `json:"received"`
	Rejected  map[string]int `json:"rejected,omitempty"` // error code → count
	Elapsed   time.Duration  `json:"elapsedNs"`
	PerSecond float64        `json:"perSecond"` // received envelopes per second
	P50       time.Duration  `json:"p50Ns"`     // latency from send to receipt
	P99       time.Duration  `json:"p99Ns"`
	Max       time.Duration  `json:"maxNs"`
	// ServerCPU is the relay process's CPU time during the run, and CPUPerMessage that time
	// over Received. Both are 0 without Target.PID.
	ServerCPU     time.Duration `json:"serverCpuNs"`
	CPUPerMessage time.Duration `json:"cpuPerMessageNs"`
}

// run is the shared state of one Pairs run. Every envelope has an index into the slices.
type run struct {
	opts     PairsOptions
	start    time.Time
	index    map[string]int // envelope ID → index
	sentAt   []atomic.Int64 // ns since start
	latency  []int64        // ns; written once per index by its receiver
	finished atomic.Int64   // envelopes received or rejected
	done     chan struct{}
	failed   chan struct{} // closed when the relay closed a connection before the run was done
	failOnce sync.Once
	failErr  error

	mu       sync.Mutex
	rejected map[string]int
	received int
}

type pair struct {
	sender, receiver *session
	frames           [][]byte
	first            int // index of frames[0]
	window           chan struct{}
}

// Pairs registers opts.Pairs sender/receiver pairs and sends opts.Messages envelopes through the
// relay, each sender to its own receiver. A slot of a pair's window is freed when the receiver
// gets the envelope or the relay rejects it, so the relay never queues more than the window
// for a receiver.
func Pairs(ctx context.Context, t Target, opts PairsOptions) (*PairsResult, error) {
	if opts.Pairs <= 0 || opts.Messages < opts.Pairs || opts.Size < 8 {
		return nil, fmt.Errorf("invalid pairs run: %d pairs, %d messages, %d-byte payloads; need at least one message per pair and 8 bytes", opts.Pairs, opts.Messages, opts.Size)
	}
	if opts.Window <= 0 {
		opts.Window = 16
	}
	pairs, err := connectPairs(ctx, t.URL, opts.Pairs)
	if err != nil {
		return nil, err
	}
	defer closePairs(pairs)
	r := &run{opts: opts, index: make(map[string]int, opts.Messages), done: make(chan struct{}), failed: make(chan struct{}),
		rejected: map[string]int{}}
	if err := r.sign(pairs); err != nil {
		return nil, err
	}
	r.sentAt = make([]atomic.Int64, opts.Messages)
	r.latency = make([]int64, opts.Messages)
	return r.measure(ctx, t, pairs)
}

func connectPairs(ctx context.Context, url string, n int) ([]*pair, error) {
	keys, err := generateKeys(2 * n)
	if err != nil {
		return nil, err
	}
	sessions, err := registerMany(ctx, url, keys, 32)
	if err != nil {
		return nil, err
	}
	pairs := make([]*pair, n)
	for i := range pairs {
		pairs[i] = &pair{sender: sessions[2*i], receiver: sessions[2*i+1]}
	}
	return pairs, nil
}

func closePairs(pairs []*pair) {
	for _, p := range pairs {
		p.sender.close()
		p.receiver.close()
	}
}

// sign builds every message frame before the clock starts, two pairs at a time.
func (r *run) sign(pairs []*pair) error {
	per := r.opts.Messages / len(pairs)
	r.opts.Messages = per * len(pairs)
	filler := strings.Repeat("x", r.opts.Size-8)
	var wg sync.WaitGroup
	errs := make([]error, len(pairs))
	sem := make(chan struct{}, 2)
	for i, p := range pairs {
		p.first = i * per
		p.frames = make([][]byte, per)
		p.window = make(chan struct{}, r.opts.Window)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = p.sign(filler)
		}()
	}
	wg.Wait()
	for _, p := range pairs {
		for j, frame := range p.frames {
			r.index[frameID(frame)] = p.first + j
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *pair) sign(filler string) error {
	to := []string{p.receiver.publicKey()}
	for j := range p.frames {
		// Distinct payloads, because equal envelopes signed within one millisecond share an ID.
		env, err := protocol.CreateEnvelope(p.sender.key, "bench", to, fmt.Sprintf("%08d%s", j, filler), nil)
		if err != nil {
			return err
		}
		if p.frames[j], err = messageFrame(env); err != nil {
			return err
		}
	}
	return nil
}

// frameID returns the envelope ID in a message frame, or "" when it has none. The load tool's
// own payloads contain no "id" key, so the first one after "envelope" is the envelope's.
func frameID(frame []byte) string {
	i := bytes.Index(frame, []byte(`"envelope":`))
	if i < 0 {
		return ""
	}
	rest := frame[i:]
	j := bytes.Index(rest, []byte(`"id":"`))
	if j < 0 || len(rest) < j+6+64 {
		return ""
	}
	return string(rest[j+6 : j+6+64])
}

func (r *run) measure(ctx context.Context, t Target, pairs []*pair) (*PairsResult, error) {
	cpuBefore, cpuErr := cpuOf(t.PID)
	r.start = time.Now()
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Add(3)
		go func() { defer wg.Done(); r.receive(p) }()
		go func() { defer wg.Done(); r.readVerdicts(p) }()
		go func() { defer wg.Done(); r.send(ctx, p) }()
	}

	var cause error
	select {
	case <-r.done:
	case <-r.failed:
		cause = r.failErr
	case <-ctx.Done():
		cause = ctx.Err()
	}
	elapsed := time.Since(r.start)
	finished := r.finished.Load()
	cpuAfter, cpuErr2 := cpuOf(t.PID)
	closePairs(pairs)
	wg.Wait()

	if cause != nil {
		return nil, fmt.Errorf("run ended before every envelope arrived (%d of %d): %w", finished, r.opts.Messages, cause)
	}
	if cpuErr == nil {
		cpuErr = cpuErr2
	}
	if cpuErr != nil {
		return nil, cpuErr
	}
	return r.result(elapsed, cpuAfter-cpuBefore), nil
}

func cpuOf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return processCPU(pid)
}

func (r *run) send(ctx context.Context, p *pair) {
	for j, frame := range p.frames {
		select {
		case p.window <- struct{}{}:
		case <-ctx.Done():
			return
		case <-r.done:
			return
		}
		if r.opts.Rate > 0 {
			due := r.start.Add(time.Duration(float64(j) / r.opts.Rate * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		r.sentAt[p.first+j].Store(int64(time.Since(r.start)))
		if err := p.sender.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			return
		}
	}
}

// lost records that a connection ended before the run was done, for example because the
// relay closed it for an envelope over its size limit (close code 1009).
func (r *run) lost(role string, err error) {
	select {
	case <-r.done:
		return
	default:
	}
	r.failOnce.Do(func() {
		r.failErr = fmt.Errorf("the relay closed a %s's connection: %w", role, err)
		close(r.failed)
	})
}

func (r *run) receive(p *pair) {
	for {
		_, data, err := p.receiver.conn.ReadMessage()
		if err != nil {
			r.lost("receiver", err)
			return
		}
		if !bytes.Contains(data, []byte(`"type":"message"`)) {
			continue // presence
		}
		i, ok := r.index[frameID(data)]
		if !ok {
			continue
		}
		// At least 1 ns, because 0 marks an envelope that never arrived.
		r.latency[i] = max(int64(time.Since(r.start))-r.sentAt[i].Load(), 1)
		r.mu.Lock()
		r.received++
		r.mu.Unlock()
		r.complete(p)
	}
}

// readVerdicts reads the relay's delivered and error frames for a sender. An error frame
// for an envelope completes it, as it will not arrive.
func (r *run) readVerdicts(p *pair) {
	err := readErrorFrames(p.sender, func(code, id string) {
		r.mu.Lock()
		r.rejected[code]++
		r.mu.Unlock()
		if _, ok := r.index[id]; ok {
			r.complete(p)
		}
	})
	r.lost("sender", err)
}

// readErrorFrames reads s's frames until its connection ends, passes the code and envelope ID
// of each error frame to f, and returns the read error that ended the connection.
func readErrorFrames(s *session, f func(code, id string)) error {
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(`"type":"error"`)) {
			f(errorFrame(data))
		}
	}
}

// errorFrame returns the code and envelope ID of an error frame.
func errorFrame(data []byte) (code, id string) {
	var e struct {
		Code string `json:"code"`
		ID   string `json:"id"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return "unparsable_error_frame", ""
	}
	return e.Code, e.ID
}

func (r *run) complete(p *pair) {
	select {
	case <-p.window:
	default:
	}
	if r.finished.Add(1) == int64(r.opts.Messages) {
		close(r.done)
	}
}

func (r *run) result(elapsed, cpu time.Duration) *PairsResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &PairsResult{Pairs: r.opts.Pairs, Size: r.opts.Size, Messages: r.opts.Messages,
		Received: r.received, Elapsed: elapsed, ServerCPU: cpu}
	if len(r.rejected) > 0 {
		res.Rejected = r.rejected
	}
	res.PerSecond = float64(r.received) / elapsed.Seconds()
	if r.received > 0 {
		res.CPUPerMessage = cpu / time.Duration(r.received)
	}
	lat := make([]int64, 0, r.received)
	for _, l := range r.latency {
		if l > 0 {
			lat = append(lat, l)
		}
	}
	res.P50, res.P99, res.Max = percentiles(lat)
	return res
}

// percentiles returns the 50th and 99th percentile and the maximum of samples (nearest rank).
func percentiles(samples []int64) (p50, p99, maxValue time.Duration) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	slices.Sort(samples)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(samples))+0.999999) - 1
		return time.Duration(samples[max(i, 0)])
	}
	return rank(0.50), rank(0.99), time.Duration(samples[len(samples)-1])
}
