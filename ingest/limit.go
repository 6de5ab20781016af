package ingest

import (
	"errors"
	"io"
)

// errMessageTooLarge stops the MIME reader once a mail is larger than the limit.
var errMessageTooLarge = errors.New("mail larger than limits.max_message_bytes")

// capReader passes at most max+1 bytes through (the extra byte tells "exactly at the limit"
// from "over it") and then fails, so an oversized mail is never read whole.
type capReader struct {
	r        io.Reader
	max      int64
	n        int64
	exceeded bool
	err      error // the source's first error other than EOF: the mail was not read whole
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		c.exceeded = true
		return 0, errMessageTooLarge
	}
	if left := c.max + 1 - c.n; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	c.n += int64(n)
	if c.n > c.max {
		c.exceeded = true
	}
	return n, err
}
