package cli

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/relaybench"
)

// earlierRelayRate is the throughput of the earlier TypeScript relay with one pair on a 2-core
// machine, in messages per second, as measured by the project before this relay was written.
// The throughput goal is five times that figure; docs/benchmarks.md gives the source.
const earlierRelayRate = 3000

// benchFlags are the flags of `agora bench relay`.
type benchFlags struct {
	url           string
	pid           int
	relayBin      string
	pairs         []int
	sizes         []int
	messages      int
	window        int
	latencyRate   float64
	idle          []int
	storm         []int
	stormParallel int
	stormRate     float64
	timeout       time.Duration
}

func (a *app) benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the speed of agora components",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(a.benchRelayCommand(), a.benchClientsCommand())
	return cmd
}

func (a *app) benchRelayCommand() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Drive a relay over WebSocket and report throughput, latency, CPU and memory",
		Long: `Measures a relay from outside its process. Without --url, it starts a fresh
"agora relay" process on 127.0.0.1 for each measurement (sender rate limit off), so that
CPU and memory figures belong to the relay alone. With --url it drives the relay there;
give --pid as well for CPU and memory figures, and start that relay with
--sender-rate-limit 0 --ws-max-conns-per-ip 0 and a --max-peers above the number of
sessions.

Measurements, each skipped when its flag is empty or 0:
  pairs    throughput and latency of N sender/receiver pairs (--pairs, --sizes)
  latency  one pair sending at a steady --latency-rate
  idle     relay memory per idle registered connection (--idle)
  storm    N registrations at once while one pair keeps sending (--storm)

Envelopes are signed before the clock starts and the load clients do not verify what they
receive, so that the machine's CPU goes to the relay. Every figure is compared with one
crypto/ed25519 verification measured in this process at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBenchRelay(&f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "WebSocket URL of a running relay (default: start one per measurement)")
	fl.IntVar(&f.pid, "pid", 0, "process ID of the relay at --url, for server CPU and memory figures")
	fl.StringVar(&f.relayBin, "relay-bin", "", "agora binary that runs the relays this command starts (default: this program)")
	f.pairs, f.sizes, f.idle, f.storm = []int{1, 10, 100}, []int{100, 4096}, []int{1000, 5000}, []int{1000, 5000}
	fl.Var((*intList)(&f.pairs), "pairs", "comma-separated numbers of sender/receiver pairs; \"\" skips the pairs measurement")
	fl.Var((*intList)(&f.sizes), "sizes", "comma-separated payload sizes in bytes, at least 8 each")
	fl.IntVar(&f.messages, "messages", 20000, "envelopes per pairs measurement, split between the pairs")
	fl.IntVar(&f.window, "window", 16, "envelopes per pair sent but not yet received")
	fl.Float64Var(&f.latencyRate, "latency-rate", 1000, "envelopes per second of the steady one-pair latency measurement; 0 skips it")
	fl.Var((*intList)(&f.idle), "idle", "comma-separated numbers of idle connections for the memory measurement; \"\" skips it")
	fl.Var((*intList)(&f.storm), "storm", "comma-separated sizes of the registration storm; \"\" skips it")
	fl.IntVar(&f.stormParallel, "storm-parallel", 200, "registrations in progress at once during a storm")
	fl.Float64Var(&f.stormRate, "storm-rate", 500, "envelopes per second of the pair that sends during a storm")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "time limit of each measurement")
	return cmd
}

// intList is a flag of comma-separated integers in which the empty string is the empty list.
// pflag's IntSlice rejects the empty string, so a measurement could not be skipped with it.
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(s string) error {
	*l = nil
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return fmt.Errorf("invalid integer %q", part)
		}
		*l = append(*l, n)
	}
	return nil
}

func (l *intList) Type() string { return "ints" }

func (f *benchFlags) validate() error {
	if f.url == "" && f.pid != 0 {
		return usageError("--pid needs --url; without --url the command starts its own relays")
	}
	if f.url != "" && f.pid == 0 && len(f.idle) > 0 {
		return usageError("the idle measurement needs --pid with --url; give --idle '' to skip it")
	}
	for _, n := range append(append(append([]int{}, f.pairs...), f.idle...), f.storm...) {
		if n <= 0 {
			return usageError("invalid count %d in --pairs, --idle or --storm: counts must be positive", n)
		}
	}
	for _, s := range f.sizes {
		if s < 8 {
			return usageError("invalid --sizes entry %d: payloads have at least 8 bytes", s)
		}
	}
	for _, n := range f.pairs {
		if f.messages < n {
			return usageError("--messages %d is less than --pairs %d: each pair needs a message", f.messages, n)
		}
	}
	if f.window <= 0 || f.stormParallel <= 0 || f.timeout <= 0 {
		return usageError("--window, --storm-parallel and --timeout must be positive")
	}
	if f.latencyRate < 0 || f.stormRate <= 0 {
		return usageError("--latency-rate must not be negative and --storm-rate must be positive")
	}
	return nil
}

// verifyYardstick is the cost of one crypto/ed25519 verification on this machine, measured
// over iterations of a 200-byte message.
func verifyYardstick() time.Duration {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	const iterations = 2000
	start := time.Now()
	for range iterations {
		ed25519.Verify(pub, msg, sig)
	}
	return time.Since(start) / iterations
}

func (a *app) runBenchRelay(f *benchFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	verify := verifyYardstick()
	err := a.emit(map[string]any{"event": "yardstick", "ed25519VerifyNs": verify}, func(w io.Writer) {
		fmt.Fprintf(w, "crypto/ed25519 verify: %v per signature (%.0f/s on one core)\n", verify, float64(time.Second)/float64(verify))
	})
	if err != nil {
		return err
	}
	r := &benchRun{app: a, flags: f, verify: verify}
	for _, step := range []func() error{r.pairs, r.latency, r.idle, r.storm} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// benchRun carries one `agora bench relay` through its measurements.
type benchRun struct {
	app    *app
	flags  *benchFlags
	verify time.Duration
}

// target returns the relay to measure: the one at --url, or a fresh process that stop ends.
func (r *benchRun) target(ctx context.Context, sessions int) (relaybench.Target, func(), error) {
	if r.flags.url != "" {
		return relaybench.Target{URL: r.flags.url, PID: r.flags.pid}, func() {}, nil
	}
	p, err := startBenchRelay(ctx, r.flags.relayBin, sessions+16, r.app.streams.Err)
	if err != nil {
		return relaybench.Target{}, nil, err
	}
	return p.target, p.stop, nil
}

// measure runs fn against a relay sized for sessions, within the time limit of one measurement.
func (r *benchRun) measure(sessions int, fn func(ctx context.Context, t relaybench.Target) error) error {
	ctx, cancel := context.WithTimeout(r.app.ctx, r.flags.timeout)
	defer cancel()
	t, stop, err := r.target(ctx, sessions)
	if err != nil {
		return err
	}
	defer stop()
	return fn(ctx, t)
}

func (r *benchRun) pairs() error {
	for _, n := range r.flags.pairs {
		for _, size := range r.flags.sizes {
			opts := relaybench.PairsOptions{Pairs: n, Size: size, Messages: r.flags.messages, Window: r.flags.window}
			err := r.measure(2*n, func(ctx context.Context, t relaybench.Target) error {
				res, err := relaybench.Pairs(ctx, t, opts)
				if err != nil {
					return fmt.Errorf("pairs measurement (%d pairs, %d bytes): %w", n, size, err)
				}
				return r.reportPairs("pairs", res)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *benchRun) latency() error {
	rate := r.flags.latencyRate
	if rate == 0 {
		return nil
	}
	// Five seconds of steady traffic, within the bounds of --messages.
	messages := min(max(int(rate*5), 100), r.flags.messages)
	opts := relaybench.PairsOptions{Pairs: 1, Size: 100, Messages: messages, Window: r.flags.window, Rate: rate}
	if len(r.flags.sizes) > 0 {
		opts.Size = r.flags.sizes[0]
	}
	return r.measure(2, func(ctx context.Context, t relaybench.Target) error {
		res, err := relaybench.Pairs(ctx, t, opts)
		if err != nil {
			return fmt.Errorf("latency measurement at %v envelopes/s: %w", rate, err)
		}
		return r.reportPairs("latency", res)
	})
}

func (r *benchRun) idle() error {
	for _, n := range r.flags.idle {
		err := r.measure(n, func(ctx context.Context, t relaybench.Target) error {
			res, err := relaybench.Idle(ctx, t, n)
			if err != nil {
				return fmt.Errorf("idle measurement (%d connections): %w", n, err)
			}
			return r.app.emit(struct {
				Event string `json:"event"`
				*relaybench.IdleResult
			}{"idle", res}, func(w io.Writer) {
				fmt.Fprintf(w, "idle %5d connections: %.1f KiB per connection (relay RSS %.1f -> %.1f MiB)\n",
					n, float64(res.PerConn)/1024, mib(res.RSSBefore), mib(res.RSSAfter))
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *benchRun) storm() error {
	for _, n := range r.flags.storm {
		opts := relaybench.StormOptions{Clients: n, Parallel: r.flags.stormParallel, Rate: r.flags.stormRate,
			Register: spawnStormClients(r.flags.relayBin, r.app.streams.Err)}
		err := r.measure(n+2, func(ctx context.Context, t relaybench.Target) error {
			res, err := relaybench.Storm(ctx, t, opts)
			if err != nil {
				return fmt.Errorf("storm measurement (%d clients): %w", n, err)
			}
			return r.app.emit(struct {
				Event string `json:"event"`
				*relaybench.StormResult
			}{"storm", res}, func(w io.Writer) {
				fmt.Fprintf(w, "storm %5d registrations: %v (server CPU %v); traffic during it: %d sent, %d received, %d lost, p50 %v, p99 %v, max %v\n",
					n, res.Elapsed.Round(time.Millisecond), res.ServerCPU, res.TrafficSent, res.TrafficReceived,
					res.TrafficLost, round(res.TrafficP50), round(res.TrafficP99), round(res.TrafficMax))
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *benchRun) reportPairs(event string, res *relaybench.PairsResult) error {
	cpuRatio := 0.0
	if res.CPUPerMessage > 0 {
		cpuRatio = float64(res.CPUPerMessage) / float64(r.verify)
	}
	verifyRate := float64(time.Second) / float64(r.verify)
	view := struct {
		Event string `json:"event"`
		*relaybench.PairsResult
		CPUOverVerify     float64 `json:"cpuPerMessageOverVerify,omitempty"`
		RateOverVerify    float64 `json:"perSecondOverVerifyRate"`
		RateOverEarlier   float64 `json:"perSecondOverEarlierRelay"`
		EarlierRelayRate  int     `json:"earlierRelayRate"`
		VerifyNanoseconds int64   `json:"ed25519VerifyNs"`
	}{event, res, cpuRatio, res.PerSecond / verifyRate, res.PerSecond / earlierRelayRate, earlierRelayRate, int64(r.verify)}
	return r.app.emit(view, func(w io.Writer) {
		// At a fixed rate, the rate ratios restate --latency-rate, so the line leaves them out.
		if event == "latency" {
			fmt.Fprintf(w, "%-7s %3d pair(s), %5d B: %8.0f msgs/s (paced), p50 %v, p99 %v, max %v",
				event, res.Pairs, res.Size, res.PerSecond, round(res.P50), round(res.P99), round(res.Max))
		} else {
			fmt.Fprintf(w, "%-7s %3d pair(s), %5d B: %8.0f msgs/s (%.2f x verify rate, %.1f x the earlier relay's %d), p50 %v, p99 %v, max %v",
				event, res.Pairs, res.Size, res.PerSecond, view.RateOverVerify, view.RateOverEarlier, earlierRelayRate,
				round(res.P50), round(res.P99), round(res.Max))
		}
		if res.CPUPerMessage > 0 {
			fmt.Fprintf(w, ", server CPU %v/msg (%.2f x verify)", res.CPUPerMessage.Round(100*time.Nanosecond), cpuRatio)
		}
		fmt.Fprintln(w)
		if len(res.Rejected) > 0 {
			fmt.Fprintf(w, "        rejected by the relay: %v; a rate_limited entry means the relay's --sender-rate-limit is on\n", res.Rejected)
		}
	})
}

func round(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
