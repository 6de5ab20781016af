package mailbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// The throughput pair: a bare go-imap fetch of N mails and the watcher delivering the same N
// mails (search, sizes, bodies, Sink, cursor, MOVE) from the same server. Goal: the watcher
// stays within a small factor of the bare fetch (it adds one SEARCH, one size FETCH and a MOVE
// per batch of up to 200 mails, not a round trip per mail).
//
//	go test -run '^$' -bench . ./ingest/mailbox/                  # in-memory server
//	scripts/test.sh -run '^$' -bench . ./ingest/mailbox/          # also the private Dovecot
const (
	benchMails     = 2000
	benchMailBytes = 8 << 10 // a form mail with a small PDF invoice
)

// benchTarget is one server to benchmark against.
type benchTarget struct {
	name string
	// setup returns the mailbox config for a fresh folder set, and fill/reset functions.
	setup func(b *testing.B) (cfg config.Mailbox, fill func(), reset func())
}

func benchTargets() []benchTarget {
	return []benchTarget{
		{"memserver", func(b *testing.B) (config.Mailbox, func(), func()) {
			srv := newMemServer(b, nil).start()
			b.Cleanup(srv.stop)
			cfg := mboxConfig(srv.Addr())
			fill := func() {
				for i := range benchMails {
					srv.appendMail("INBOX", mail(i, fmt.Sprintf("RMA %d", i), benchMailBytes))
				}
			}
			reset := func() { // keep memory flat across iterations
				srv.user.Delete(cfg.ProcessedMailbox)
				srv.user.Delete(cfg.RejectedMailbox)
			}
			return cfg, fill, reset
		}},
		{"dovecot", func(b *testing.B) (config.Mailbox, func(), func()) {
			addr, user, pass := os.Getenv("RMAD_TEST_IMAP"), os.Getenv("RMAD_TEST_IMAP_USER"), os.Getenv("RMAD_TEST_IMAP_PASS")
			if addr == "" {
				b.Skip("RMAD_TEST_IMAP is not set: run through scripts/test.sh to benchmark Dovecot")
			}
			box := newDovecotBox(b, addr, user, pass)
			fill := func() {
				for i := range benchMails {
					box.append(mail(i, fmt.Sprintf("RMA %d", i), benchMailBytes))
				}
			}
			reset := func() {
				box.c.Delete(box.processed).Wait()
				box.c.Delete(box.reject).Wait()
			}
			return box.config(), fill, reset
		}},
	}
}

// BenchmarkBareFetch: connect, log in, select and UID FETCH BODY.PEEK[] of every mail, reading
// each into memory, with nothing else. The baseline for BenchmarkWatcher.
func BenchmarkBareFetch(b *testing.B) {
	for _, target := range benchTargets() {
		b.Run(target.name, func(b *testing.B) {
			cfg, fill, _ := target.setup(b)
			fill()
			b.SetBytes(benchMails * benchMailBytes)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if n := bareFetch(b, cfg); n != benchMails {
					b.Fatalf("fetched %d mails, want %d", n, benchMails)
				}
			}
			b.ReportMetric(float64(benchMails*b.N)/time.Since(start).Seconds(), "mails/s")
		})
	}
}

func bareFetch(b *testing.B, cfg config.Mailbox) int {
	c, err := imapclient.DialInsecure(cfg.Address, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(cfg.Username, cfg.Password.Reveal()).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select(cfg.Mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}} // 1:*
	fetch := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for msg := fetch.Next(); msg != nil; msg = fetch.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
				if _, err := io.ReadAll(body.Literal); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
	}
	if err := fetch.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// countSink is the trivial Sink: it counts and keeps nothing.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Deliver(context.Context, Mail) (Disposition, error) {
	s.n.Add(1)
	return Processed, nil
}

// BenchmarkWatcher: a watcher starts, delivers the N mails to a trivial Sink and moves them to
// processed. Timed from Run until the sync that handled them all has finished.
func BenchmarkWatcher(b *testing.B) {
	for _, target := range benchTargets() {
		b.Run(target.name, func(b *testing.B) {
			cfg, fill, reset := target.setup(b)
			b.SetBytes(benchMails * benchMailBytes)
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				reset()
				fill()
				sink := &countSink{}
				w := New(cfg, config.Limits{MaxMessageBytes: 25 << 20}, sink, newCursor(), nil, zerolog.Nop())
				synced := make(chan struct{}, 1)
				w.afterSync = func() {
					if sink.n.Load() >= benchMails {
						signal(synced)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- w.Run(ctx) }()
				select {
				case <-synced:
				case <-time.After(5 * time.Minute):
					b.Fatalf("watcher delivered %d of %d mails", sink.n.Load(), benchMails)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if n := sink.n.Load(); n != benchMails {
					b.Fatalf("delivered %d, want %d", n, benchMails)
				}
			}
			b.ReportMetric(float64(benchMails*b.N)/elapsed.Seconds(), "mails/s")
		})
	}
}
