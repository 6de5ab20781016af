package main

import (
	"net"
	"time"

	"github.com/rmad/rmad/internal/testenv"
)

// startDelayProxy forwards TCP connections from a loopback port to target with every byte
// arriving delay later in each direction: a relay 2×delay round trip away, to see what the
// SMTP round trips cost (-smtp-rtt). It runs until the process ends.
func startDelayProxy(target string, delay time.Duration) (string, error) {
	ln, err := testenv.Forward(target, func(c, s net.Conn) {
		go pipeDelayed(s, c, delay)
		go pipeDelayed(c, s, delay)
	})
	if err != nil {
		return "", err
	}
	return ln.Addr().String(), nil
}

// pipeDelayed copies src to dst, each chunk written delay after it was read; at src's end it
// closes dst (and src, so the other direction ends too).
func pipeDelayed(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	chunks := make(chan chunk, 256)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	for range chunks { // let the reader end
	}
}
