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
		"--sender-rate-limit", "0", "--max-peers", strconv.Itoa(maxPeers))
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
