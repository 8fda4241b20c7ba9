package node

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadFrames checks that the frame and ack readers never panic on arbitrary stream bytes,
// never return a frame over the limit, and read back what writeFrame wrote.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte{0x05, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte(`{"id":"x","ok":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 10
		r := bufio.NewReader(bytes.NewReader(data))
		if size, err := readFrameLen(r, limit); err == nil {
			if size < 0 || size > limit {
				t.Fatalf("frame length %d outside [0, %d]", size, limit)
			}
			_, _ = readFrameBody(r, size)
		}
		_, _ = readAck(bufio.NewReader(bytes.NewReader(data)))

		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeFrame(w, data); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		back := bufio.NewReader(&buf)
		size, err := readFrameLen(back, len(data))
		if err != nil {
			t.Fatalf("reading a written frame: %v", err)
		}
		body, err := readFrameBody(back, size)
		if err != nil || !bytes.Equal(body, data) {
			t.Fatalf("frame round trip changed %q to %q (%v)", data, body, err)
		}
	})
}
