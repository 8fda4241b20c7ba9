package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAgentAsksAndAnswers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	serverCtx, stopServer := context.WithCancel(ctx)
	var serverOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(serverCtx, nil, &serverOut) }()

	var addr string
	for addr == "" {
		select {
		case <-ctx.Done():
			t.Fatal("answering agent did not start")
		case <-time.After(20 * time.Millisecond):
		}
		if line, ok := strings.CutPrefix(serverOut.String(), "listening on "); ok {
			addr = strings.TrimSpace(strings.SplitN(line, "\n", 2)[0])
		}
	}

	var clientOut syncBuffer
	if err := run(ctx, []string{"-peer", addr, "-text", "ping"}, &clientOut); err != nil {
		t.Fatalf("asking agent: %v\noutput: %s", err, clientOut.String())
	}
	if !strings.Contains(clientOut.String(), "response: PING") {
		t.Fatalf("asking agent output lacks the response:\n%s", clientOut.String())
	}
	if !strings.Contains(serverOut.String(), "request from ") {
		t.Fatalf("answering agent did not log the request:\n%s", serverOut.String())
	}
	stopServer()
	if err := <-done; err != nil {
		t.Fatalf("answering agent: %v", err)
	}
}
