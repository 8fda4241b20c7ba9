package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
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
	childWritersEnv = "AGORA_STORE_CHILD_WRITERS"
	childMaxPuts    = 100_000 // per writer
)

// runChildWriter stores envelopes from concurrent writers, each one after another, and prints
// "<writer> <ID>" after each Put returns, until it is killed. It returns the exit code.
func runChildWriter(dir string) int {
	peer := os.Getenv(childPeerEnv)
	writers, err := strconv.Atoi(os.Getenv(childWritersEnv))
	if err != nil || writers < 1 {
		writers = 1
	}
	s, err := Open(Options{Dir: dir, StoragePeers: []string{peer}, NoBatch: os.Getenv(childNoBatchEnv) == "1", MaxPerPeer: -1, MaxBytesPerPeer: -1, MaxTotalBytes: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	errs := make(chan error, writers)
	for w := range writers {
		go func() { errs <- childWrite(s, peer, w) }()
	}
	// Only an error ends the child early; otherwise it runs until it is killed.
	err = <-errs
	fmt.Fprintln(os.Stderr, err)
	return 2
}

func childWrite(s *Store, peer string, writer int) error {
	sender, err := protocol.GenerateKeyPair()
	if err != nil {
		return err
	}
	for i := range childMaxPuts {
		env, err := protocol.CreateEnvelope(sender, "publish", []string{peer}, map[string]int{"n": i}, nil)
		if err != nil {
			return err
		}
		if err := s.Put(context.Background(), peer, env); err != nil {
			return err
		}
		// os.Stdout is unbuffered and a line is far below PIPE_BUF, so each line reaches the
		// pipe whole, in one write, before the next Put starts.
		fmt.Println(writer, env.ID)
	}
	return errors.New("writer reached childMaxPuts before it was killed")
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
	// accepted lists, per writer of every round, the IDs in the order Put returned them.
	var accepted [][]string
	for round := range rounds {
		noBatch := round%2 == 1
		writers := 1
		if !noBatch {
			writers = 8
		}
		printed := killRound(t, dir, peer, noBatch, writers, time.Duration(rand.IntN(300))*time.Millisecond)
		total := 0
		for _, ids := range printed {
			total += len(ids)
		}
		t.Logf("round %d (NoBatch %v, %d writers): %d envelopes reported accepted", round, noBatch, writers, total)
		accepted = append(accepted, printed...)
		checkAccepted(t, dir, peer, accepted)
	}
}

// killRound starts a child with writers, SIGKILLs it after delay once it is ready, and returns
// the IDs each writer printed.
func killRound(t *testing.T, dir, peer string, noBatch bool, writers int, delay time.Duration) [][]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childPeerEnv+"="+peer, childNoBatchEnv+"="+map[bool]string{true: "1", false: "0"}[noBatch], childWritersEnv+"="+strconv.Itoa(writers))
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
	printed := make([][]string, writers)
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
			w, id, ok := strings.Cut(line, " ")
			n, err := strconv.Atoi(w)
			if !ok || err != nil || n < 0 || n >= writers {
				t.Fatalf("child printed an unexpected line %q", line)
			}
			printed[n] = append(printed[n], id)
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

// checkAccepted reopens the store and checks that every accepted ID is in it, and that each
// writer's IDs are stored in the order Put returned them.
func checkAccepted(t *testing.T, dir, peer string, accepted [][]string) {
	t.Helper()
	s, err := Open(Options{Dir: dir, StoragePeers: []string{peer}})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	seqOf := make(map[string]uint64)
	var last uint64
	for {
		page, err := s.After(peer, last, MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			seqOf[st.Envelope.ID] = st.Seq
		}
		last = page[len(page)-1].Seq
	}
	for w, ids := range accepted {
		var prev uint64
		for i, id := range ids {
			seq, ok := seqOf[id]
			if !ok {
				t.Fatalf("writer %d: accepted envelope %d (%s) is missing after SIGKILL", w, i, id)
			}
			if seq <= prev {
				t.Fatalf("writer %d: accepted envelope %d (%s) is stored before envelope %d", w, i, id, i-1)
			}
			prev = seq
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
