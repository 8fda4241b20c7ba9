package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// Environment of the child writer that TestSIGKILLKeepsAccepted starts from the test binary.
const (
	childDirEnv     = "AGORA_STORE_CHILD_DIR"
	childPeerEnv    = "AGORA_STORE_CHILD_PEER"
	childNoBatchEnv = "AGORA_STORE_CHILD_NOBATCH"
	childMaxPuts    = 100_000
)

// runChildWriter stores envelopes one after another and prints each ID after Put returns, until
// it is killed. It returns the exit code.
func runChildWriter(dir string) int {
	peer := os.Getenv(childPeerEnv)
	s, err := Open(Options{Dir: dir, StoragePeers: []string{peer}, NoBatch: os.Getenv(childNoBatchEnv) == "1", MaxPerPeer: -1, MaxBytesPerPeer: -1, MaxTotalBytes: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sender, err := protocol.GenerateKeyPair()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	for i := range childMaxPuts {
		env, err := protocol.CreateEnvelope(sender, "publish", []string{peer}, map[string]int{"n": i}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if err := s.Put(context.Background(), peer, env); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		// os.Stdout is unbuffered, so the line is in the pipe when Println returns.
		fmt.Println(env.ID)
	}
	return 0
}

// TestSIGKILLKeepsAccepted kills a writer process at a random moment, many times, and checks
// that every envelope it reported as accepted is in the store, in the order it was accepted.
func TestSIGKILLKeepsAccepted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 child processes")
	}
	dir := t.TempDir()
	peer := newKey(t).PublicKey().String()
	const rounds = 20
	var accepted []string
	for round := range rounds {
		noBatch := round%2 == 1
		printed := killRound(t, dir, peer, noBatch, time.Duration(rand.IntN(300))*time.Millisecond)
		t.Logf("round %d (NoBatch %v): %d envelopes reported accepted", round, noBatch, len(printed))
		accepted = append(accepted, printed...)
		checkSubsequence(t, dir, peer, accepted)
	}
}

// killRound starts a writer, SIGKILLs it after delay once it is ready, and returns the IDs it
// printed.
func killRound(t *testing.T, dir, peer string, noBatch bool, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childPeerEnv+"="+peer, childNoBatchEnv+"="+map[bool]string{true: "1", false: "0"}[noBatch])
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var printed []string
	ready := false
	timer := time.NewTimer(10 * time.Second) // bound for the child to open the store
	defer timer.Stop()
	for killed := false; ; {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := cmd.Wait(); !killed {
					t.Fatalf("writer exited before it was killed: %v, stderr: %s", err, stderr.String())
				}
				return printed
			}
			if line == "ready" {
				ready = true
				timer.Reset(delay)
				continue
			}
			printed = append(printed, line)
		case <-timer.C:
			if !ready {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("writer did not open the store in time, stderr: %s", stderr.String())
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
}

// checkSubsequence reopens the store and checks that accepted appears in it in order.
func checkSubsequence(t *testing.T, dir, peer string, accepted []string) {
	t.Helper()
	s, err := Open(Options{Dir: dir, StoragePeers: []string{peer}})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	next := 0
	var last uint64
	for next < len(accepted) {
		page, err := s.After(peer, last, MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			if next < len(accepted) && st.Envelope.ID == accepted[next] {
				next++
			}
		}
		last = page[len(page)-1].Seq
	}
	if next != len(accepted) {
		t.Fatalf("accepted envelope %d of %d (%s) is missing or out of order after SIGKILL", next, len(accepted), accepted[next])
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
