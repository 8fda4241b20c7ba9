package relaymode

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestBatchConnHoldsWritesUntilRelease(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &batchConn{Conn: server}
	defer c.Close()
	received := make(chan []byte, 4)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := client.Read(buf)
			if err != nil {
				return
			}
			received <- append([]byte(nil), buf[:n]...)
		}
	}()

	c.hold()
	for _, part := range []string{"one,", "two,", "three"} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatalf("Write while holding: %v", err)
		}
	}
	select {
	case got := <-received:
		t.Fatalf("%q left before release", got)
	case <-time.After(50 * time.Millisecond):
	}
	if err := c.release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if got := string(<-received); got != "one,two,three" {
		t.Errorf("released %q in one write, want %q", got, "one,two,three")
	}

	// Without holding, every write goes out as it is.
	if _, err := c.Write([]byte("direct")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := string(<-received); got != "direct" {
		t.Errorf("direct write arrived as %q", got)
	}
}

func TestBatchConnFlushesAtLimit(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := &batchConn{Conn: server}
	defer c.Close()
	total := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, client)
		total <- int(n)
	}()
	c.hold()
	chunk := make([]byte, 1000)
	written := 0
	for written < batchLimit+1000 {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		written += len(chunk)
	}
	// The batch reached batchLimit, so it left without release; the rest is still held.
	if len(c.buf) >= batchLimit {
		t.Errorf("%d bytes held after passing the limit, want fewer than %d", len(c.buf), batchLimit)
	}
	c.Close()
	if got := <-total; got != written {
		t.Errorf("peer read %d bytes after Close, want %d", got, written)
	}
}

func TestBatchConnCloseEndsBlockedWrite(t *testing.T) {
	server, client := net.Pipe() // client is never read, so every write blocks
	defer client.Close()
	c := &batchConn{Conn: server}
	c.hold()
	writeDone := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, batchLimit)) // reaches the limit and blocks in the flush
		writeDone <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a write blocked on a peer that does not read")
	}
	if err := <-writeDone; err == nil {
		t.Error("blocked write returned no error after Close")
	}
}
