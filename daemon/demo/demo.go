// Package demo runs the real rmad daemon on the sample partner mails: a private redis-server,
// go-imap's in-memory IMAP server and an SMTP sink on loopback, the samples appended to the
// mailbox one by one, and each mail's outcome printed as it is answered.
package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"

	_ "github.com/emersion/go-message/charset" // partner-facing replies are UTF-8; charset decoding for completeness

	rmad "github.com/rmad/rmad"
	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
)

// Options for a demo run.
type Options struct {
	Out      string        // folder for replies (.eml) and the run's files; created
	Once     bool          // exit after the samples instead of serving until ctx ends
	Redis    string        // use this Redis (host:port) instead of starting a private one
	Log      io.Writer     // daemon logs (nil: discarded)
	Settle   time.Duration // how long to wait for one mail to be answered; default 15s
	Stdout   io.Writer
	Mailbox  string // IMAP user, default rma@distributor.example
	Password string // IMAP password, default random

	prefix string // the run's Redis key prefix (Start sets it)
}

// Outcome is what came of one sample mail.
type Outcome struct {
	File    string
	Replies []sandbox.Mail // mails rmad sent for it (reply, staff copy, forwards)
	Took    time.Duration
}

// Env is a running demo environment: the servers and the daemon.
type Env struct {
	Redis  *sandbox.Redis // nil when an outside Redis is used
	IMAP   *sandbox.IMAP
	SMTP   *sandbox.SMTP
	Config *config.Config
	HTTP   string
	daemon *daemon.Daemon
	cancel context.CancelFunc
	done   chan error
	imapc  *imapclient.Client
}

const rmaAddress = "rma@distributor.example"

// Start brings up the servers and the daemon, with the samples' data files and the routing and
// policy of config/config.sample.yaml.
func Start(ctx context.Context, opt Options) (*Env, error) {
	if opt.Out == "" {
		return nil, fmt.Errorf("demo: no output folder")
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if opt.Mailbox == "" {
		opt.Mailbox = rmaAddress
	}
	if opt.Password == "" {
		opt.Password = fmt.Sprintf("demo-%d", time.Now().UnixNano())
	}
	e := &Env{done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()
	// Every run starts from nothing: the samples are the same mails each time, and what an
	// earlier run left would take them for mails already answered (no reply the second time).
	// The private Redis's data and the replies are the demo's own; on a Redis of the user's
	// (--redis) the run takes a key prefix of its own instead of deleting anything.
	stale := []string{filepath.Join(opt.Out, "replies")}
	opt.prefix = "rmad-demo:"
	if opt.Redis == "" {
		stale = append(stale, filepath.Join(opt.Out, "redis"))
	} else {
		opt.prefix = fmt.Sprintf("rmad-demo-%d:", time.Now().UnixNano())
	}
	for _, dir := range stale {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	redisAddr := opt.Redis
	if redisAddr == "" {
		r, err := sandbox.StartRedis("", filepath.Join(opt.Out, "redis"))
		if err != nil {
			return nil, err
		}
		e.Redis, redisAddr = r, r.Addr
	}
	var err error
	if e.IMAP, err = sandbox.StartIMAP(opt.Mailbox, opt.Password); err != nil {
		return nil, err
	}
	if e.SMTP, err = sandbox.StartSMTP(filepath.Join(opt.Out, "replies")); err != nil {
		return nil, err
	}
	httpPort, err := sandbox.FreePort()
	if err != nil {
		return nil, err
	}
	e.HTTP = fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfgPath, err := writeConfig(opt, redisAddr, e)
	if err != nil {
		return nil, err
	}
	if e.Config, err = config.Load(cfgPath); err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	logw := opt.Log
	if logw == nil {
		logw = io.Discard
	}
	log := config.NewLogger(e.Config.Log, logw)
	d, err := daemon.New(ctx, e.Config, log, daemon.Options{Workers: 1})
	if err != nil {
		return nil, err
	}
	e.daemon = d
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	go func() { e.done <- d.Run(runCtx) }()
	if e.imapc, err = imapclient.DialInsecure(e.IMAP.Addr, nil); err != nil {
		return nil, fmt.Errorf("demo imap client: %w", err)
	}
	if err := e.imapc.Login(opt.Mailbox, opt.Password).Wait(); err != nil {
		return nil, fmt.Errorf("demo imap login: %w", err)
	}
	ok = true
	return e, nil
}

// Stop ends the daemon and the servers.
func (e *Env) Stop() error {
	var err error
	if e.cancel != nil {
		e.cancel()
		err = <-e.done
	}
	if e.imapc != nil {
		e.imapc.Close()
	}
	if e.SMTP != nil {
		e.SMTP.Stop()
	}
	if e.IMAP != nil {
		e.IMAP.Stop()
	}
	if e.Redis != nil {
		e.Redis.Stop()
	}
	return err
}

// Deliver appends one mail to INBOX and waits until rmad has taken it out of INBOX and every mail
// it caused has been sent; it returns those mails.
func (e *Env) Deliver(ctx context.Context, name string, raw []byte, settle time.Duration) (Outcome, error) {
	before := len(e.SMTP.Mails())
	start := time.Now()
	cmd := e.imapc.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return Outcome{}, fmt.Errorf("append %s: %w", name, err)
	}
	if err := cmd.Close(); err != nil {
		return Outcome{}, fmt.Errorf("append %s: %w", name, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return Outcome{}, fmt.Errorf("append %s: %w", name, err)
	}
	// Between the append and the last mail sent, either the message is still in INBOX or an entry
	// is waiting or unacknowledged in the inbox or outbox stream; both empty means settled.
	deadline := time.Now().Add(settle)
	for {
		st, err := e.imapc.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return Outcome{}, fmt.Errorf("status INBOX: %w", err)
		}
		if *st.NumMessages == 0 {
			pending, err := e.daemon.Pending(ctx)
			if err != nil {
				return Outcome{}, err
			}
			if pending == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			return Outcome{}, fmt.Errorf("%s: not answered within %s", name, settle)
		}
		select {
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	all := e.SMTP.Mails()
	return Outcome{File: name, Replies: all[before:], Took: time.Since(start)}, nil
}

// Run is `rmad demo`: start everything, run the samples in order, print what came of each, then
// serve until ctx ends (or return at once with Once).
func Run(ctx context.Context, opt Options) error {
	out := opt.Stdout
	if out == nil {
		out = os.Stdout
	}
	if opt.Settle <= 0 {
		opt.Settle = 15 * time.Second
	}
	e, err := Start(ctx, opt)
	if err != nil {
		return err
	}
	defer e.Stop()
	names, err := fs.Glob(rmad.Samples, "testdata/mails/*.eml")
	if err != nil {
		return err
	}
	sort.Strings(names)
	fmt.Fprintf(out, "rmad demo: %d sample mails → IMAP %s (user %s), replies → %s\n\n", len(names), e.IMAP.Addr, e.IMAP.User, e.SMTP.Dir)
	for _, n := range names {
		raw, err := rmad.Samples.ReadFile(n)
		if err != nil {
			return err
		}
		o, err := e.Deliver(ctx, path.Base(n), raw, opt.Settle)
		if err != nil {
			return err
		}
		fmt.Fprint(out, Describe(o))
	}
	fmt.Fprintf(out, "\nreplies written to %s\n", e.SMTP.Dir)
	if opt.Once {
		return nil
	}
	fmt.Fprintf(out, "\nrmad keeps running; send more mail with any client:\n  IMAP  %s  user %s  password %s  (tls: none, loopback)\n  SMTP  %s  (the sink that receives rmad's replies)\n  HTTP  http://%s/healthz  /metrics  /webhooks/{source}  /api/v1/...\n  Redis %s\nCtrl-C to stop.\n",
		e.IMAP.Addr, e.IMAP.User, e.IMAP.Password, e.SMTP.Addr, e.HTTP, redisOf(e))
	<-ctx.Done()
	return nil
}

func redisOf(e *Env) string {
	if e.Redis != nil {
		return e.Redis.Addr
	}
	return e.Config.Redis.URL
}

// Describe renders one outcome for people: the rows of the reply's rma-results.csv, or what kind
// of answer was sent.
func Describe(o Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-34s %5d ms  ", o.File, o.Took.Milliseconds())
	if len(o.Replies) == 0 {
		b.WriteString("no reply (automatic mail)\n")
		return b.String()
	}
	// The partner's answer is the auto-replied mail; staff copies and forwards are auto-generated.
	reply, others := o.Replies[0], o.Replies[1:]
	for i, m := range o.Replies {
		if bytes.Contains(m.Data, []byte("Auto-Submitted: auto-replied")) {
			reply = m
			others = append(append([]sandbox.Mail(nil), o.Replies[:i]...), o.Replies[i+1:]...)
			break
		}
	}
	subject, rows, body := ReadReply(reply.Data)
	if rows == nil {
		first := firstLine(body)
		fmt.Fprintf(&b, "answer %q: %s\n", subject, first)
	} else {
		fmt.Fprintf(&b, "reply %q\n", subject)
		for _, r := range rows {
			fmt.Fprintf(&b, "    line %s: %-10s %-16s %-13s %s\n", r["line"], r["result"], r["rma_number"], r["handling"], r["codes"])
		}
	}
	for _, extra := range others {
		fmt.Fprintf(&b, "    also sent to %s\n", strings.Join(extra.To, ", "))
	}
	return b.String()
}

// ReadReply returns a reply's subject, the rows of its rma-results.csv (nil when it has none)
// and its text body.
func ReadReply(raw []byte) (subject string, rows []map[string]string, body string) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return "", nil, ""
	}
	subject, _ = mr.Header.Subject()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			body += string(data)
		case *mail.AttachmentHeader:
			if name, _ := h.Filename(); name == "rma-results.csv" {
				rows = readCSV(data)
			}
		}
	}
	return subject, rows, body
}

func readCSV(data []byte) []map[string]string {
	delim := ','
	if i := bytes.IndexByte(data, '\n'); i > 0 {
		if bytes.Count(data[:i], []byte{';'}) > bytes.Count(data[:i], []byte{','}) {
			delim = ';'
		} else if bytes.Count(data[:i], []byte{'\t'}) > bytes.Count(data[:i], []byte{','}) {
			delim = '\t'
		}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = delim
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return []map[string]string{}
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range recs[0] {
			if i < len(rec) {
				row[h] = rec[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// writeConfig writes the demo's config and data files into opt.Out and returns the config path.
func writeConfig(opt Options, redisAddr string, e *Env) (string, error) {
	dir := opt.Out
	if err := sandbox.WriteSampleData(dir); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "imap-password"), []byte(opt.Password+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	p := filepath.Join(dir, "config.yaml")
	err := sandbox.WriteConfig(p, sandbox.Settings{
		LogFormat: "console",
		RedisAddr: redisAddr, KeyPrefix: opt.prefix,
		IMAPAddr: e.IMAP.Addr, IMAPUser: opt.Mailbox, IMAPPasswordFile: "imap-password", IDLE: true,
		SMTPAddr:   e.SMTP.Addr,
		HTTPListen: e.HTTP,
	})
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return p, nil
}
