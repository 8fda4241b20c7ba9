package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/relaybench"
)

// benchRelayStartTimeout bounds the wait for a started relay's listening line.
const benchRelayStartTimeout = 30 * time.Second

// benchRelay is an `agora relay` process started for one measurement.
type benchRelay struct {
	cmd    *exec.Cmd
	dir    string
	target relaybench.Target
	exited chan struct{}
}

// startBenchRelay starts bin (this program when empty) as `agora relay` on 127.0.0.1 with a
// throwaway identity, no sender rate limit and room for maxPeers keys.
func startBenchRelay(ctx context.Context, bin string, maxPeers int, stderr io.Writer) (*benchRelay, error) {
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this program to start a relay: %w; give --relay-bin or --url", err)
		}
		bin = self
	}
	dir, err := os.MkdirTemp("", "agora-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.json"), "--log-level", "warn", "--json",
		"relay", "--ws-addr", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--sender-rate-limit", "0", "--max-peers", strconv.Itoa(maxPeers),
		"--ws-max-conns", "0", "--ws-max-conns-per-ip", "0")
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start relay %s: %w", bin, err)
	}
	p := &benchRelay{cmd: cmd, dir: dir, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Wait closes stdout, so it is called once the output has been read to its end.
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(p.exited)
	}()
	if err := p.awaitListening(ctx, lines); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *benchRelay) awaitListening(ctx context.Context, lines <-chan string) error {
	timer := time.NewTimer(benchRelayStartTimeout)
	defer timer.Stop()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			return errors.New("started relay exited before it listened; its log is above")
		}
		line = l
	case <-timer.C:
		return fmt.Errorf("started relay printed no listening line within %v", benchRelayStartTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
	var ev struct {
		Event string `json:"event"`
		WS    string `json:"ws"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event != "listening" || ev.WS == "" {
		return fmt.Errorf("started relay printed %q, want its listening event", line)
	}
	p.target = relaybench.Target{URL: ev.WS, PID: p.cmd.Process.Pid}
	return nil
}

// stop ends the relay with SIGTERM, or SIGKILL after 10 seconds, and removes its directory.
func (p *benchRelay) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	os.RemoveAll(p.dir)
}

// benchClientsCommand is the hidden `agora bench clients`, which `bench relay` starts to run a
// registration storm's clients in a process of their own. It registers --count sessions,
// prints {"event":"registered","count","elapsedNs"} and reads their frames until its standard
// input closes.
func (a *app) benchClientsCommand() *cobra.Command {
	var url string
	var count, parallel int
	cmd := &cobra.Command{
		Use:    "clients",
		Short:  "Register WebSocket sessions for a registration storm (used by bench relay)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if url == "" || count <= 0 || parallel <= 0 {
				return usageError("bench clients needs --url, and a positive --count and --parallel")
			}
			elapsed, stop, err := relaybench.Clients(a.ctx, url, count, parallel)
			if err != nil {
				return err
			}
			defer stop()
			line, _ := json.Marshal(map[string]any{"event": "registered", "count": count, "elapsedNs": elapsed})
			fmt.Fprintf(a.streams.Out, "%s\n", line)
			_, _ = io.Copy(io.Discard, a.streams.In)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "WebSocket URL of the relay")
	cmd.Flags().IntVar(&count, "count", 0, "sessions to register")
	cmd.Flags().IntVar(&parallel, "parallel", 200, "registrations in progress at once")
	return cmd
}

// spawnStormClients returns a relaybench.StormOptions.Register that runs the clients in a
// child process of bin (this program when empty).
func spawnStormClients(bin string, stderr io.Writer) func(ctx context.Context, url string, n, parallel int) (time.Duration, func(), error) {
	return func(ctx context.Context, url string, n, parallel int) (time.Duration, func(), error) {
		if bin == "" {
			self, err := os.Executable()
			if err != nil {
				return 0, nil, fmt.Errorf("find this program to start the storm clients: %w", err)
			}
			bin = self
		}
		cmd := exec.Command(bin, "bench", "clients", "--url", url, "--count", strconv.Itoa(n), "--parallel", strconv.Itoa(parallel))
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return 0, nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return 0, nil, err
		}
		if err := cmd.Start(); err != nil {
			return 0, nil, fmt.Errorf("start storm clients: %w", err)
		}
		stop := func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		var ev struct {
			Event   string        `json:"event"`
			Elapsed time.Duration `json:"elapsedNs"`
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "registered" {
			stop()
			return 0, nil, fmt.Errorf("storm clients did not register %d sessions; their error is above", n)
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		return ev.Elapsed, stop, nil
	}
}
