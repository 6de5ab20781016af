package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"
)

// The bare pipeline does per mail exactly the I/O rmad must do and nothing else, so that the
// gap between the two is what rmad's own work costs: a fetcher (UID SEARCH, UID FETCH
// BODY.PEEK[] in batches of 200 as rmad's watcher does, one XADD of the raw mail each, UID
// MOVE of the batch), 4 workers (XREADGROUP, one EVALSHA that numbers and records, XADD of the
// reply, XACK+XDEL in one pipeline) and 4 couriers (XREADGROUP, two SMTP deliveries over a
// session each courier keeps open, XACK+XDEL in one pipeline), on the same Redis.
const (
	bareWorkers  = 4
	bareCouriers = 4
	bareBatch    = 200
)

// bareRecord numbers a mail and records it, as rmad's commit does in the end: the counter, the
// record hash and the submission's outcome key. KEYS seq, record prefix, outcome key; ARGV
// partner, Message-ID.
var bareRecord = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2] .. n, 'number', n, 'partner', ARGV[1], 'message_id', ARGV[2], 'status', 'awaiting_goods')
redis.call('SET', KEYS[3], n)
return n
`)

// barePipeline is one running bare pipeline on a Redis key prefix of its own.
type barePipeline struct {
	answered atomic.Int64 // mails whose reply and staff copy went out and whose entry is acked
	errc     chan error
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	rc       *redis.Client
}

// startBare starts the bare pipeline on folder (mails go to done once in the inbox stream):
// it moves what the folder holds and, with watch, waits in IDLE for more, as rmad's watcher
// does; without, it stops fetching once the folder is empty.
func (e *env) startBare(ctx context.Context, folder, done string, watch bool) (*barePipeline, error) {
	b := &barePipeline{errc: make(chan error, 1+bareWorkers+bareCouriers),
		rc: redis.NewClient(&redis.Options{Addr: e.redisAddr, PoolSize: 2 * (bareWorkers + bareCouriers)})}
	prefix := fmt.Sprintf("rmadbench-%s-bare%d:", e.run, e.seq)
	inbox, outbox := prefix+"inbox", prefix+"outbox"
	for _, s := range []string{inbox, outbox} {
		if err := b.rc.XGroupCreateMkStream(ctx, s, "bare", "0").Err(); err != nil {
			b.rc.Close()
			return nil, fmt.Errorf("bare: group %s: %w", s, err)
		}
	}
	if err := bareRecord.Load(ctx, b.rc).Err(); err != nil {
		b.rc.Close()
		return nil, fmt.Errorf("bare: load script: %w", err)
	}
	ctx, b.cancel = context.WithCancel(ctx)
	fail := func(err error) {
		if err != nil && ctx.Err() == nil {
			b.errc <- err
			b.cancel()
		}
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); fail(e.bareFetch2Redis(ctx, b.rc, folder, done, inbox, watch)) }()
	for i := range bareWorkers {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); fail(bareWorker(ctx, b.rc, prefix, inbox, outbox, i)) }()
	}
	for i := range bareCouriers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			fail(e.bareCourier(ctx, b.rc, outbox, i, func() { b.answered.Add(1) }))
		}()
	}
	return b, nil
}

// waitAnswered waits until want mails were answered, the pipeline failed or timeout passed.
func (b *barePipeline) waitAnswered(ctx context.Context, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for b.answered.Load() < want {
		select {
		case err := <-b.errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bare: %d of %d mails answered within %s", b.answered.Load(), want, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

func (b *barePipeline) stop() {
	b.cancel()
	b.wg.Wait()
	b.rc.Close()
}

// bareRun runs the bare pipeline on folder until want mails were answered (reply and staff
// copy delivered, both streams acknowledged).
func (e *env) bareRun(ctx context.Context, folder, done string, want int, timeout time.Duration) (time.Duration, error) {
	began := time.Now()
	b, err := e.startBare(ctx, folder, done, false)
	if err != nil {
		return 0, err
	}
	err = b.waitAnswered(ctx, int64(want), timeout)
	took := time.Since(began)
	b.stop()
	return took, err
}

// bareLatency appends o.mails mails one at a time to a folder the bare pipeline watches with
// IDLE, as latency does for rmad, and returns per mail the time from the end of its APPEND to
// its reply at the sink.
func (e *env) bareLatency(ctx context.Context, o options, name string) ([]time.Duration, error) {
	root := fmt.Sprintf("bench%s%s", e.run, name)
	in, done := root+"/in", root+"/done"
	if err := e.client.Create(in, nil).Wait(); err != nil {
		return nil, fmt.Errorf("create %s: %w", in, err)
	}
	defer func() {
		for _, m := range []string{in, done, root} {
			_ = e.client.Delete(m).Wait()
		}
	}()
	b, err := e.startBare(ctx, in, done, true)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	replies := newReplyWatch(e.smtp)
	lat := make([]time.Duration, 0, o.mails)
	for i := range o.mails + 1 { // the first one warms up: IDLE is on once it is answered
		if i > 0 {
			time.Sleep(rand.N(20 * time.Millisecond)) // as latency: a random phase
		}
		id, raw := e.nextMail()
		if err := e.appendMail(in, raw); err != nil {
			return nil, err
		}
		appended := time.Now()
		wctx, cancel := context.WithTimeout(ctx, o.timeout)
		at, err := replies.waitFor(wctx, id)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("bare: reply to %s: %w", id, err)
		}
		if i > 0 {
			lat = append(lat, at.Sub(appended))
		}
		// Settled: the staff copy sent and the outbox entry acked too.
		if err := b.waitAnswered(ctx, int64(i+1), o.timeout); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

// bareFetch2Redis moves every mail of folder into the inbox stream and then to done; with
// watch it then waits in IDLE for new mail and moves that too, until ctx ends.
func (e *env) bareFetch2Redis(ctx context.Context, rc *redis.Client, folder, done, inbox string, watch bool) error {
	news := make(chan struct{}, 1)
	c, err := dialWith(e.imapAddr, e.user, e.pass, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(*imapclient.UnilateralDataMailbox) {
			select {
			case news <- struct{}{}:
			default:
			}
		},
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		return fmt.Errorf("bare: select %s: %w", folder, err)
	}
	if err := c.Create(done, nil).Wait(); err != nil {
		return fmt.Errorf("bare: create %s: %w", done, err)
	}
	for {
		if err := bareMoveAll(ctx, c, rc, done, inbox); err != nil || !watch || ctx.Err() != nil {
			return err
		}
		idle, err := c.Idle()
		if err != nil {
			return fmt.Errorf("bare: idle: %w", err)
		}
		select {
		case <-news:
		case <-ctx.Done():
		}
		if err := idle.Close(); err != nil {
			return fmt.Errorf("bare: idle: %w", err)
		}
		if err := idle.Wait(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("bare: idle: %w", err)
		}
	}
}

// bareMoveAll moves the mails the selected folder holds into the inbox stream (UID FETCH in
// batches, one XADD each, UID MOVE of the batch).
func bareMoveAll(ctx context.Context, c *imapclient.Client, rc *redis.Client, done, inbox string) error {
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("bare: search: %w", err)
	}
	uids := found.AllUIDs()
	for len(uids) > 0 && ctx.Err() == nil {
		n := min(bareBatch, len(uids))
		set := imap.UIDSetNum(uids[:n]...)
		uids = uids[n:]
		fetch := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		for {
			msg := fetch.Next()
			if msg == nil {
				break
			}
			for item := msg.Next(); item != nil; item = msg.Next() {
				b, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok {
					continue
				}
				raw, err := io.ReadAll(b.Literal)
				if err != nil {
					fetch.Close()
					return err
				}
				if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: inbox, Values: []any{"payload", raw}}).Err(); err != nil {
					fetch.Close()
					return fmt.Errorf("bare: xadd: %w", err)
				}
			}
		}
		if err := fetch.Close(); err != nil {
			return fmt.Errorf("bare: fetch: %w", err)
		}
		if _, err := c.Move(set, done).Wait(); err != nil {
			return fmt.Errorf("bare: move: %w", err)
		}
	}
	return nil
}

// readOne reads one new entry of stream for consumer, or nil when none came within the block.
func readOne(ctx context.Context, rc *redis.Client, stream, consumer string) (*redis.XMessage, error) {
	res, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "bare", Consumer: consumer,
		Streams: []string{stream, ">"}, Count: 1, Block: 200 * time.Millisecond}).Result()
	if errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(res) == 0 || len(res[0].Messages) == 0 {
		return nil, nil
	}
	return &res[0].Messages[0], nil
}

func ackDel(ctx context.Context, rc *redis.Client, stream, id string) error {
	pipe := rc.Pipeline()
	pipe.XAck(ctx, stream, "bare", id)
	pipe.XDel(ctx, stream, id)
	_, err := pipe.Exec(ctx)
	return err
}

func bareWorker(ctx context.Context, rc *redis.Client, prefix, inbox, outbox string, i int) error {
	consumer := "worker" + strconv.Itoa(i)
	for ctx.Err() == nil {
		x, err := readOne(ctx, rc, inbox, consumer)
		if err != nil || x == nil {
			if err != nil {
				return fmt.Errorf("bare worker: %w", err)
			}
			continue
		}
		raw, _ := x.Values["payload"].(string)
		from, id := headerValue(raw, "From: "), headerValue(raw, "Message-ID: ")
		n, err := bareRecord.Run(ctx, rc, []string{prefix + "seq", prefix + "rma:", prefix + "sub:" + id}, from, id).Int64()
		if err != nil {
			return fmt.Errorf("bare worker: record: %w", err)
		}
		reply := []any{"to", from, "in_reply_to", id, "number", n}
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: outbox, Values: reply}).Err(); err != nil {
			return fmt.Errorf("bare worker: xadd: %w", err)
		}
		if err := ackDel(ctx, rc, inbox, x.ID); err != nil {
			return fmt.Errorf("bare worker: ack: %w", err)
		}
	}
	return nil
}

func (e *env) bareCourier(ctx context.Context, rc *redis.Client, outbox string, i int, answered func()) error {
	c, err := e.bareSession()
	if err != nil {
		return fmt.Errorf("bare courier: %w", err)
	}
	defer c.Close()
	consumer := "courier" + strconv.Itoa(i)
	var msg bytes.Buffer
	for ctx.Err() == nil {
		x, err := readOne(ctx, rc, outbox, consumer)
		if err != nil || x == nil {
			if err != nil {
				return fmt.Errorf("bare courier: %w", err)
			}
			continue
		}
		to, _ := x.Values["to"].(string)
		id, _ := x.Values["in_reply_to"].(string)
		num, _ := x.Values["number"].(string)
		for _, rcpt := range []string{bareAddress(to), "rma-staff@distributor.example"} {
			msg.Reset()
			// Auto-Submitted tells the reply (what latency waits for) from the staff copy.
			auto := "auto-replied"
			if rcpt != bareAddress(to) {
				auto = "auto-generated"
			}
			fmt.Fprintf(&msg, "From: rma@distributor.example\r\nTo: %s\r\nSubject: RMA/%s/SR\r\nIn-Reply-To: %s\r\nAuto-Submitted: %s\r\n\r\nYour RMA number is RMA/%s/SR.\r\n",
				rcpt, num, id, auto, num)
			if err := c.SendMail("rma@distributor.example", []string{rcpt}, &msg); err != nil {
				return fmt.Errorf("bare courier: send: %w", err)
			}
		}
		if err := ackDel(ctx, rc, outbox, x.ID); err != nil {
			return fmt.Errorf("bare courier: ack: %w", err)
		}
		answered()
	}
	return nil
}

// headerValue is a header's value in a raw mail (the first line that starts with name).
func headerValue(raw, name string) string {
	i := 0
	for i < len(raw) {
		j := i
		for j < len(raw) && raw[j] != '\n' {
			j++
		}
		line := raw[i:j]
		if len(line) <= 1 { // blank line: end of the header
			return ""
		}
		if len(line) > len(name) && line[:len(name)] == name {
			v := line[len(name):]
			if v[len(v)-1] == '\r' {
				v = v[:len(v)-1]
			}
			return v
		}
		i = j + 1
	}
	return ""
}

// bareAddress is the address inside "Name <addr>".
func bareAddress(from string) string {
	if i := strings.IndexByte(from, '<'); i >= 0 {
		if j := strings.IndexByte(from[i:], '>'); j > 0 {
			return from[i+1 : i+j]
		}
	}
	return from
}

// bareSession opens the bare courier's SMTP session as rmad's Sender would: plain to the sink,
// or with -smtp-login STARTTLS (SSL_CERT_FILE names the sink's certificate) and AUTH PLAIN.
func (e *env) bareSession() (*smtp.Client, error) {
	if !e.opt.smtpLogin {
		c, err := smtp.Dial(e.smtp.Addr)
		if err != nil {
			return nil, err
		}
		if err := c.Hello("bare.bench"); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	host, _, _ := net.SplitHostPort(e.smtp.Addr)
	c, err := smtp.DialStartTLS(e.smtp.Addr, &tls.Config{ServerName: host})
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", "rmad", "bench-smtp")); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
