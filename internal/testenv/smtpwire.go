package testenv

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPWire is a proxy between the client and a server that counts the commands the client sent
// and the server has not answered yet. With hold, the server's replies wait from the client's
// RSET or MAIL until the client has sent DATA (at most holdMax): a client that pipelines sends
// all of the group without them; one that waits for each reply is seen waiting. With strip,
// PIPELINING is taken out of the server's EHLO reply.
type SMTPWire struct {
	target      string
	hold, strip bool

	mu       sync.Mutex
	cond     *sync.Cond
	inFlight int   // commands sent, not yet answered
	maxIn    int   // the most at once
	atData   []int // inFlight when each DATA arrived (DATA included)
	gate     bool  // replies wait
	dataMode bool  // the client sends message data (after a 354)
}

const holdMax = 5 * time.Second

func StartSMTPWire(t testing.TB, target string, hold, strip bool) (*SMTPWire, string) {
	t.Helper()
	w := &SMTPWire{target: target, hold: hold, strip: strip}
	w.cond = sync.NewCond(&w.mu)
	ln, err := Forward(target, func(c, s net.Conn) {
		w.mu.Lock()
		w.count(1) // the greeting is a reply nothing asked for
		w.mu.Unlock()
		go w.fromClient(c, s)
		go w.fromServer(s, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return w, ln.Addr().String()
}

func (w *SMTPWire) fromClient(c, s net.Conn) {
	defer s.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		w.mu.Lock()
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case w.dataMode:
			if cmd == "." {
				w.dataMode = false
				w.count(1)
			}
		default:
			w.count(1)
			if w.hold && (cmd == "RSET" || strings.HasPrefix(cmd, "MAIL ")) {
				w.gate = true
			}
			if cmd == "DATA" {
				w.atData = append(w.atData, w.inFlight)
				w.gate = false
				w.cond.Broadcast()
			}
		}
		w.mu.Unlock()
		if _, err := s.Write([]byte(line)); err != nil {
			return
		}
	}
}

func (w *SMTPWire) count(n int) {
	w.inFlight += n
	w.maxIn = max(w.maxIn, w.inFlight)
}

func (w *SMTPWire) fromServer(s, c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(s)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		w.mu.Lock()
		deadline := time.Now().Add(holdMax)
		for w.gate && time.Now().Before(deadline) {
			w.mu.Unlock()
			time.Sleep(time.Millisecond) // a poll, not a measurement: DATA opens the gate
			w.mu.Lock()
		}
		w.gate = false
		final := len(line) < 4 || line[3] != '-'
		if final {
			w.inFlight--
		}
		if strings.HasPrefix(line, "354") {
			w.dataMode = true
		}
		w.mu.Unlock()
		if w.strip && strings.Contains(strings.ToUpper(line), "PIPELINING") {
			if final { // keep the reply's last line
				line = line[:3] + " X-NOTHING\r\n"
			} else {
				continue
			}
		}
		if _, err := c.Write([]byte(line)); err != nil {
			return
		}
	}
}

// Stats returns the most commands that were unanswered at once and, for each DATA, how many
// were (DATA included).
func (w *SMTPWire) Stats() (maxIn int, atData []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxIn, append([]int(nil), w.atData...)
}
