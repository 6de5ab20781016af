// Command rmadbench measures the real rmad daemon end to end: IMAP in, Redis, SMTP reply out.
//
//	go run ./cmd/rmadbench -mode both                    # in-memory IMAP server, private redis-server
//	go run ./cmd/rmadbench -imap 127.0.0.1:PORT -imap-user rmad -imap-pass SECRET   # e.g. Dovecot
//
// It starts a private redis-server (or uses -redis), an IMAP server (go-imap's in-memory server,
// or the one -imap names), an SMTP sink and the daemon in-process, then measures
//
//   - latency: mails appended one at a time (each after the previous one is settled and a random
//     pause), from the end of the APPEND to the partner's reply arriving at the SMTP sink; with
//     IDLE and with polling every second;
//   - throughput: N mails appended while the daemon is stopped, then the daemon started and
//     timed until every mail is answered, next to a bare go-imap UID FETCH BODY[] of the same
//     mails from the same server (the floor no IMAP reader can beat).
//
// Every mail is a valid one-item submission with a PDF invoice, accepted in-house, so each
// causes a reply and a staff copy.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	rmad "github.com/rmad/rmad"
	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/store"
)

func main() { os.Exit(run()) }

type options struct {
	mails      int
	mode       string
	throughput int
	redis      string
	imapAddr   string
	imapUser   string
	imapPass   string
	poll       time.Duration
	workers    int
	log        string
	timeout    time.Duration
	smtpLogin  bool          // the sink wants STARTTLS and AUTH PLAIN, as a submission server does
	smtpRTT    time.Duration // rmad reaches the sink through a proxy adding this round trip
	perSession int           // SMTP messages per session (0: rmad's default; 1: a session per message)
	fsync      string
	pairs      int
	memory     bool // report Redis memory per RMA after the throughput run
	cpuProfile string
	process    bool // run the daemon in a child process (its own peak RSS)
	daemonCfg  string
	consumer   string
	maxItems   int // limits.max_items_per_submission (0: the config's)
	backlog    int64
	big        bool // the throughput mails are 25 MB mails with a 10,000-row CSV
	trace      bool // print each latency mail's stages from the daemon's debug log
}

func run() int {
	var o options
	flag.IntVar(&o.mails, "mails", 200, "mails for the latency measurement (0 skips it)")
	flag.StringVar(&o.mode, "mode", "both", "`idle`, poll or both: latency that way, then rmad's throughput; bare: the bare pipeline's throughput; ratio: alternating rmad and bare runs, latency (-mails) then throughput (-throughput)")
	flag.IntVar(&o.throughput, "throughput", 2000, "mails for the throughput measurement (0 skips it)")
	flag.StringVar(&o.redis, "redis", "", "use this Redis `host:port` (must persist with AOF) instead of a private redis-server")
	flag.StringVar(&o.imapAddr, "imap", "", "IMAP server `host:port` on loopback (plaintext), e.g. a private Dovecot; default: go-imap's in-memory server")
	flag.StringVar(&o.imapUser, "imap-user", "", "IMAP user for -imap")
	flag.StringVar(&o.imapPass, "imap-pass", "", "IMAP password for -imap")
	flag.DurationVar(&o.poll, "poll", time.Second, "poll interval of the polling latency run")
	flag.IntVar(&o.workers, "workers", 0, "inbox workers (0: the daemon's default)")
	flag.StringVar(&o.log, "log", "", "write the daemon's logs to this `file` (default: discarded)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up when one mail (latency) or the whole batch (throughput, per 1000 mails) takes longer")
	flag.BoolVar(&o.smtpLogin, "smtp-login", false, "the SMTP sink wants STARTTLS (self-signed certificate) and AUTH PLAIN, as a submission server does")
	flag.DurationVar(&o.smtpRTT, "smtp-rtt", 0, "rmad's couriers reach the SMTP sink through a loopback proxy that adds this round-trip `time` (half each way), as a relay that far away")
	flag.IntVar(&o.perSession, "smtp-per-session", 0, "SMTP messages per session (0: rmad's default; 1: a new session per message)")
	flag.StringVar(&o.fsync, "appendfsync", "always", "the private redis-server's appendfsync: `always` or everysec")
	flag.IntVar(&o.pairs, "pairs", 3, "rmad/bare run pairs of -mode ratio")
	flag.BoolVar(&o.memory, "memory", false, "after the throughput run, print Redis MEMORY USAGE per kind of key and per RMA")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	flag.BoolVar(&o.process, "process", false, "run the daemon in a child process of its own, so that its peak RSS (VmHWM) is rmad's alone (not the in-memory IMAP server's or the SMTP sink's)")
	flag.IntVar(&o.maxItems, "max-items", 0, "limits.max_items_per_submission of the daemon (0: the default)")
	flag.Int64Var(&o.backlog, "inbox-backlog", 0, "limits.inbox_backlog of the daemon (0: the default)")
	flag.BoolVar(&o.big, "big", false, "the throughput run's mails are 25 MB mails carrying a 10,000-row CSV and a large scanned invoice (with -throughput 1 -process: rmad's peak RSS for one such mail)")
	flag.BoolVar(&o.trace, "trace", false, "the daemon logs at debug level; after each latency run, print when each stage of a mail (watcher, queues, worker, courier) was reached after the APPEND")
	flag.StringVar(&o.daemonCfg, "daemon", "", "(internal, for -process) run only the daemon on this config `file`, then print its peak RSS")
	flag.StringVar(&o.consumer, "consumer", "", "(internal, for -process) the daemon's consumer name")
	flag.Parse()
	if o.daemonCfg != "" {
		return childDaemon(o)
	}
	if !slices.Contains([]string{"idle", "poll", "both", "bare", "ratio"}, o.mode) {
		fmt.Fprintf(os.Stderr, "rmadbench: -mode %q is not idle, poll, both, bare or ratio\n", o.mode)
		return 2
	}
	if o.fsync != "always" && o.fsync != "everysec" {
		fmt.Fprintf(os.Stderr, "rmadbench: -appendfsync %q is not always or everysec\n", o.fsync)
		return 2
	}
	if o.redis != "" && o.fsync != "always" {
		fmt.Fprintln(os.Stderr, "rmadbench: -appendfsync is for the private redis-server; set it on the -redis server itself")
		return 2
	}
	if o.mode == "bare" && o.throughput <= 0 {
		fmt.Fprintf(os.Stderr, "rmadbench: -mode %s needs -throughput > 0\n", o.mode)
		return 2
	}
	if o.mode == "ratio" && o.throughput <= 0 && o.mails <= 0 {
		fmt.Fprintln(os.Stderr, "rmadbench: -mode ratio needs -mails > 0 (latency pairs) or -throughput > 0 (throughput pairs)")
		return 2
	}
	if o.trace && o.process {
		fmt.Fprintln(os.Stderr, "rmadbench: -trace reads the daemon's log in this process: not with -process")
		return 2
	}
	if o.trace {
		zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMicro // the stages are microseconds apart
	}
	if o.imapAddr != "" && (o.imapUser == "" || o.imapPass == "") {
		fmt.Fprintln(os.Stderr, "rmadbench: -imap needs -imap-user and -imap-pass")
		return 2
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rmadbench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "rmadbench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := bench(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "rmadbench: %v\n", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, out io.Writer) error {
	e, err := setup(o)
	if err != nil {
		return err
	}
	defer e.close()
	fmt.Fprintf(out, "rmadbench %s  %s/%s, %d CPUs, %s\n", time.Now().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.Version())
	smtpName := "go-smtp sink on loopback"
	if o.smtpLogin {
		smtpName += ", STARTTLS + AUTH PLAIN"
	}
	if o.perSession > 0 {
		smtpName += fmt.Sprintf(", %d messages per session", o.perSession)
	}
	if o.smtpRTT > 0 {
		smtpName += fmt.Sprintf(", %s round trip (-smtp-rtt)", o.smtpRTT)
	}
	fmt.Fprintf(out, "IMAP: %s   Redis: %s   SMTP: %s\n", e.imapName, e.redisName, smtpName)
	fmt.Fprintf(out, "load average at the start: %s\n\n", loadAvg())
	switch o.mode {
	case "bare":
		return e.bareOnly(ctx, o, out)
	case "ratio":
		return e.ratio(ctx, o, out)
	}

	modes := map[string][]bool{"idle": {true}, "poll": {false}, "both": {true, false}}[o.mode]
	if o.mails > 0 {
		fmt.Fprintf(out, "latency, APPEND done -> reply at the SMTP sink, %d mails one at a time\n", o.mails)
		fmt.Fprintf(out, "  %-16s %9s %9s %9s %9s\n", "mode", "p50", "p90", "p99", "max")
		for _, idle := range modes {
			lat, err := e.latency(ctx, o, idle)
			if err != nil {
				return err
			}
			name := "IDLE"
			if !idle {
				name = "poll " + o.poll.String()
			}
			slices.Sort(lat)
			fmt.Fprintf(out, "  %-16s %9s %9s %9s %9s\n", name, ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[len(lat)-1]))
			if e.trace != nil {
				e.trace.print(out)
			}
		}
		fmt.Fprintln(out)
	}
	if o.throughput > 0 {
		t, err := e.throughput(ctx, o, "throughput")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "throughput, %d mails waiting in the mailbox when the reader starts\n", o.throughput)
		fmt.Fprintf(out, "  %-44s %9s %12s\n", "", "time", "mails/s")
		fmt.Fprintf(out, "  %-44s %9s %12.0f\n", "rmad: fetch, decide, record, reply (+ staff copy)", sec(t.rmad), rate(o.throughput, t.rmad))
		fmt.Fprintf(out, "  %-44s %9s %12.0f\n", "bare go-imap UID FETCH BODY.PEEK[] 1:*", sec(t.fetch), rate(o.throughput, t.fetch))
		fmt.Fprintf(out, "  (APPEND of the %d mails beforehand: %s, %.0f mails/s)\n", o.throughput, sec(t.append), rate(o.throughput, t.append))
		printStats(out, "rmad", t.stats)
		printPeaks(out, o, t)
		if o.memory {
			printMemory(out, t.memory)
		}
	}
	return nil
}

// env is the servers every measurement shares.
type env struct {
	redisAddr, redisName string
	redis                *sandbox.Redis
	rc                   *redis.Client // INFO, SLOWLOG
	own                  ownCommands   // rc's commands, not counted as the pipeline's
	mem                  *sandbox.IMAP
	imapAddr, imapName   string
	user, pass           string
	smtp                 *sandbox.SMTP
	smtpAddr             string // where rmad sends: the sink, or the -smtp-rtt proxy in front of it
	dir                  string
	client               *imapclient.Client // appends and checks
	logw                 io.Writer
	logf                 *os.File
	partners             []partner
	seq                  int // mail counter across runs, for unique Message-IDs
	run                  string
	perSession           int     // -smtp-per-session
	trace                *tracer // -trace: the daemon's log, read for each latency mail's stages
	opt                  options
}

type partner struct {
	ID     string   `yaml:"id"`
	Emails []string `yaml:"emails"`
}

func setup(o options) (e *env, err error) {
	e = &env{logw: io.Discard, run: fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "rmadbench-"); err != nil {
		return e, err
	}
	if o.log != "" {
		if e.logf, err = os.Create(o.log); err != nil {
			return e, err
		}
		e.logw = e.logf
	}
	if o.trace {
		e.trace = newTracer(e.logw)
	}
	if o.redis != "" {
		e.redisAddr, e.redisName = o.redis, o.redis
	} else {
		r, err := sandbox.StartRedis("", filepath.Join(e.dir, "redis"))
		if err != nil {
			return e, err
		}
		e.redis, e.redisAddr = r, r.Addr
		e.redisName = "private " + redisVersion() + " (AOF, appendfsync " + o.fsync + ")"
	}
	e.rc = redis.NewClient(&redis.Options{Addr: e.redisAddr, PoolSize: 1})
	e.rc.AddHook(&e.own)
	if o.fsync != "always" {
		if err := e.rc.ConfigSet(context.Background(), "appendfsync", o.fsync).Err(); err != nil {
			return e, fmt.Errorf("redis appendfsync %s: %w", o.fsync, err)
		}
	}
	if o.imapAddr != "" {
		e.imapAddr, e.user, e.pass = o.imapAddr, o.imapUser, o.imapPass
		e.imapName = o.imapAddr + " (-imap)"
	} else {
		e.user, e.pass = "rma@distributor.example", fmt.Sprintf("bench-%d", time.Now().UnixNano())
		if e.mem, err = sandbox.StartIMAP(e.user, e.pass); err != nil {
			return e, err
		}
		e.imapAddr, e.imapName = e.mem.Addr, "go-imap in-memory server"
	}
	e.perSession, e.opt = o.perSession, o
	if o.smtpLogin {
		if e.smtp, err = sandbox.StartSMTPLogin("", "rmad", "bench-smtp"); err != nil {
			return e, err
		}
		// The daemon's Sender trusts the system roots: point them at the sink's certificate
		// (Go reads SSL_CERT_FILE once, at the first TLS handshake).
		certFile := filepath.Join(e.dir, "smtp-cert.pem")
		if err := os.WriteFile(certFile, e.smtp.CertPEM, 0o600); err != nil {
			return e, err
		}
		os.Setenv("SSL_CERT_FILE", certFile)
	} else if e.smtp, err = sandbox.StartSMTP(""); err != nil {
		return e, err
	}
	e.smtpAddr = e.smtp.Addr
	if o.smtpRTT > 0 {
		if e.smtpAddr, err = startDelayProxy(e.smtp.Addr, o.smtpRTT/2); err != nil {
			return e, err
		}
	}
	if e.client, err = dial(e.imapAddr, e.user, e.pass); err != nil {
		return e, err
	}
	if err := sandbox.WriteSampleData(e.dir); err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "imap-password"), []byte(e.pass+"\n"), 0o600); err != nil {
		return e, err
	}
	var pf struct {
		Partners []partner `yaml:"partners"`
	}
	b, _ := rmad.Samples.ReadFile("testdata/partners.yaml")
	if err := yaml.Unmarshal(b, &pf); err != nil || len(pf.Partners) == 0 {
		return e, fmt.Errorf("sample partners.yaml: %v", err)
	}
	e.partners = pf.Partners
	return e, nil
}

func (e *env) close() {
	if e.client != nil {
		e.client.Close()
	}
	if e.rc != nil {
		e.rc.Close()
	}
	if e.smtp != nil {
		e.smtp.Stop()
	}
	if e.mem != nil {
		e.mem.Stop()
	}
	if e.redis != nil {
		e.redis.Stop()
	}
	if e.logf != nil {
		e.logf.Close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "redis-server"
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "redis-server " + v
		}
	}
	return "redis-server"
}

func dial(addr, user, pass string) (*imapclient.Client, error) {
	return dialWith(addr, user, pass, nil)
}

func dialWith(addr, user, pass string, opt *imapclient.Options) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(addr, opt)
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login: %w", err)
	}
	return c, nil
}

// daemonRun is one daemon on folders and a Redis key prefix of its own.
type daemonRun struct {
	e                       *env
	root, in, done, rejects string
	prefix                  string
	cfgPath, consumer       string
	workers                 int
	d                       *daemon.Daemon // nil with -process
	child                   *exec.Cmd      // -process
	childOut                bytes.Buffer   // the child's stdout: its memory figures at the end
	memory                  childMemory    // -process: the child's, once stopped
	cancel                  context.CancelFunc
	exited                  chan error
	stopped                 bool
	// alive ends, with the reason as its cause, when the daemon's Run returns: waits use it so
	// that a daemon that failed is reported at once, not after the timeout.
	alive context.Context
}

func (e *env) newRun(ctx context.Context, name string, idle bool, poll time.Duration, workers int) (*daemonRun, error) {
	root := fmt.Sprintf("bench%s%s", e.run, name)
	r := &daemonRun{e: e, root: root, in: root + "/in", done: root + "/done", rejects: root + "/rejected",
		prefix: fmt.Sprintf("rmadbench-%s-%s:", e.run, name)}
	if err := e.client.Create(r.in, nil).Wait(); err != nil {
		return nil, fmt.Errorf("create %s: %w", r.in, err)
	}
	httpPort, err := sandbox.FreePort() // not the default 8080, which anything may hold
	if err != nil {
		return nil, err
	}
	path := filepath.Join(e.dir, name+".yaml")
	err = sandbox.WriteConfig(path, sandbox.Settings{
		RedisAddr: e.redisAddr, KeyPrefix: r.prefix,
		IMAPAddr: e.imapAddr, IMAPUser: e.user, IMAPPasswordFile: "imap-password",
		Mailbox: r.in, ProcessedMailbox: r.done, RejectedMailbox: r.rejects, IDLE: idle, PollInterval: poll,
		SMTPAddr:   e.smtpAddr,
		HTTPListen: fmt.Sprintf("127.0.0.1:%d", httpPort),
		Digest:     sandbox.LeapDayDigest, Reminders: sandbox.LeapDayReminders, // no mails to partners mid-run
	})
	if err != nil {
		return nil, err
	}
	r.cfgPath, r.consumer, r.workers = path, "rmadbench-"+name, workers
	if e.opt.process {
		return r, nil // started by start, in a child process
	}
	cfg, err := loadConfig(path, e.opt)
	if err != nil {
		return nil, err
	}
	logw := e.logw
	if e.trace != nil {
		cfg.Log.Level, cfg.Log.Format, logw = "debug", "json", e.trace
	}
	log := config.NewLogger(cfg.Log, logw)
	if r.d, err = daemon.New(ctx, cfg, log, daemon.Options{Workers: workers, Consumer: r.consumer,
		SMTPMessagesPerSession: e.perSession}); err != nil {
		return nil, err
	}
	return r, nil
}

// loadConfig loads a run's config with the command line's changes.
func loadConfig(path string, o options) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	if o.smtpLogin {
		cfg.SMTP.TLS, cfg.SMTP.Username, cfg.SMTP.Password = config.TLSStartTLS, "rmad", "bench-smtp"
	}
	if o.maxItems > 0 {
		cfg.Limits.MaxItemsPerSubmission = o.maxItems
	}
	if o.backlog > 0 {
		cfg.Limits.InboxBacklog = o.backlog
	}
	return cfg, nil
}

func (r *daemonRun) start() {
	ctx, cancel := context.WithCancel(context.Background())
	alive, died := context.WithCancelCause(context.Background())
	r.cancel, r.exited, r.alive = cancel, make(chan error, 1), alive
	if r.e.opt.process {
		r.startChild(ctx, died)
		return
	}
	go func() {
		err := r.d.Run(ctx)
		died(fmt.Errorf("the daemon stopped: %v", err))
		r.exited <- err
	}()
}

// within is a context for one wait: it ends after timeout or when the daemon stops.
func (r *daemonRun) within(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(r.alive, timeout, fmt.Errorf("no answer within %s", timeout))
}

// stop ends the daemon and removes the run's folders (thousands of mails on a real server).
func (r *daemonRun) stop() error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	var err error
	if r.cancel != nil {
		r.cancel()
		err = <-r.exited
	}
	for _, m := range []string{r.in, r.done, r.rejects, r.root} {
		_ = r.e.client.Delete(m).Wait()
	}
	return err
}

func (e *env) appendMail(folder string, raw []byte) error {
	cmd := e.client.Append(folder, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	return nil
}

func (e *env) count(folder string) (int, error) {
	st, err := e.client.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", folder, err)
	}
	return int(*st.NumMessages), nil
}

// latency appends o.mails mails one at a time and returns, per mail, the time from the end of
// its APPEND to its reply at the sink. Each mail is settled (out of the mailbox, every mail it
// caused sent) before the next is appended.
func (e *env) latency(ctx context.Context, o options, idle bool) ([]time.Duration, error) {
	name, poll := "idle", 30*time.Second // with IDLE, polling is only the safety net
	if !idle {
		name, poll = "poll", o.poll
	}
	r, err := e.newRun(ctx, name, idle, poll, o.workers)
	if err != nil {
		return nil, err
	}
	r.start()
	defer r.stop()
	// The watcher's first sync and IDLE (or first poll) happen before the first measurement.
	if err := r.waitStarted(ctx, o.timeout); err != nil {
		return nil, err
	}
	replies := newReplyWatch(e.smtp)
	lat := make([]time.Duration, 0, o.mails)
	// Mails are appended after a random pause: right after a settle the poller has just looked,
	// so appending at once would always measure the full interval instead of a random phase.
	pause := 20 * time.Millisecond
	if !idle {
		pause = poll
	}
	for range o.mails {
		time.Sleep(rand.N(pause))
		id, raw := e.nextMail()
		if err := e.appendMail(r.in, raw); err != nil {
			return nil, err
		}
		appended := time.Now()
		wctx, cancel := r.within(o.timeout)
		at, err := replies.waitFor(wctx, id)
		if err != nil {
			err = fmt.Errorf("%s: reply to %s: %w (%v)", name, id, err, context.Cause(wctx))
		}
		cancel()
		if err != nil {
			return nil, err
		}
		lat = append(lat, at.Sub(appended))
		if err := r.settle(ctx, o.timeout); err != nil {
			return nil, err
		}
		if e.trace != nil {
			e.trace.mark(traceMail{appended: appended, replied: at, settled: time.Now()})
		}
	}
	return lat, r.stop()
}

// waitStarted waits for the daemon to have taken its mailbox lease and synced once: one mail is
// sent through and answered.
func (r *daemonRun) waitStarted(ctx context.Context, timeout time.Duration) error {
	id, raw := r.e.nextMail()
	if err := r.e.appendMail(r.in, raw); err != nil {
		return err
	}
	wctx, cancel := r.within(timeout)
	defer cancel()
	if _, err := newReplyWatch(r.e.smtp).waitFor(wctx, id); err != nil {
		return fmt.Errorf("warm-up mail not answered: %w (%v)", err, context.Cause(wctx))
	}
	return r.settle(ctx, timeout)
}

// settle waits until the mailbox is empty and the daemon's queues too.
func (r *daemonRun) settle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := r.e.count(r.in)
		if err != nil {
			return err
		}
		if n == 0 {
			p, err := r.pending(ctx)
			if err != nil {
				return err
			}
			if p == 0 {
				return nil
			}
		}
		if r.alive.Err() != nil {
			return context.Cause(r.alive)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled within %s (%d mails in %s)", timeout, n, r.in)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type throughputResult struct {
	append, fetch, rmad time.Duration
	stats               runStats
	memory              []store.KindUsage // -memory: the run's keys once every mail is answered
	peaks               *peaks
	peakRSS             int64       // the daemon's VmHWM (with -process; else this whole process's)
	child               childMemory // -process: the daemon's process's memory figures
}

// throughput fills a mailbox with o.throughput mails, times a bare fetch of them, then starts the
// daemon and times it until every mail is answered and the queues are empty.
func (e *env) throughput(ctx context.Context, o options, name string) (throughputResult, error) {
	var res throughputResult
	r, err := e.newRun(ctx, name, true, 30*time.Second, o.workers)
	if err != nil {
		return res, err
	}
	defer r.stop()
	ids := make(map[string]bool, o.throughput)
	began := time.Now()
	for range o.throughput {
		id, raw := e.nextMail()
		if o.big {
			id, raw = e.bigMail()
		}
		ids[id] = true
		if err := e.appendMail(r.in, raw); err != nil {
			return res, err
		}
	}
	res.append = time.Since(began)

	if res.fetch, err = e.bareFetch(r.in, o.throughput); err != nil {
		return res, err
	}

	replies := newReplyWatch(e.smtp)
	before, err := e.beginStats(ctx)
	if err != nil {
		return res, err
	}
	began = time.Now()
	r.start()
	res.peaks = r.samplePeaks(ctx, 100*time.Millisecond)
	timeout := o.timeout * time.Duration(1+o.throughput/1000)
	wctx, cancel := r.within(timeout)
	defer cancel()
	if err := replies.waitAll(wctx, ids); err != nil {
		res.peaks.end()
		return res, fmt.Errorf("%w (%v)", err, context.Cause(wctx))
	}
	if err := r.settle(ctx, timeout); err != nil {
		res.peaks.end()
		return res, err
	}
	res.rmad = time.Since(began)
	res.peaks.end()
	res.peaks.settled(ctx, e)
	if res.stats, err = e.endStats(ctx, before, o.throughput); err != nil {
		return res, err
	}
	res.stats.took = res.rmad
	if o.memory {
		rdb := redis.NewClient(&redis.Options{Addr: e.redisAddr})
		defer rdb.Close()
		if res.memory, err = store.MemoryUsage(ctx, rdb, r.prefix); err != nil {
			return res, err
		}
	}
	err = r.stop()
	res.child = r.memory
	res.peakRSS = r.memory.peakRSS
	if !o.process {
		res.peakRSS, _ = procStatus(os.Getpid(), "VmHWM:")
	}
	return res, err
}

// printPeaks prints what a backlog cost in memory while it was worked off.
func printPeaks(out io.Writer, o options, res throughputResult) {
	p := res.peaks
	fmt.Fprintf(out, "  Redis used_memory: %s before, peak %s (+%s); at most %d inbox and %d outbox entries\n",
		mb(p.redisBefore), mb(p.redisPeak), mb(p.redisPeak-p.redisBefore), p.inbox, p.outbox)
	fmt.Fprintf(out, "    of the peak: %s is what stays once all is answered and the queues are empty (+%s: the RMAs' own data and what is kept of them — records, indexes, markers, kept replies), %s the backlog in flight (queues, outbox)\n",
		mb(p.redisEnd), mb(p.redisEnd-p.redisBefore), mb(max(0, p.redisPeak-p.redisEnd)))
	if o.process {
		fmt.Fprintf(out, "  rmad's peak RSS (VmHWM of its process): %s; %s\n", mb(res.peakRSS), res.child)
	} else {
		fmt.Fprintf(out, "  peak RSS of this process (rmad with the in-memory IMAP server and the SMTP sink; -process for rmad's alone): %s\n", mb(res.peakRSS))
	}
}

// bareFetch is the floor: a new connection, login, SELECT and one UID FETCH BODY.PEEK[] of every
// mail in folder, each read into memory.
func (e *env) bareFetch(folder string, want int) (time.Duration, error) {
	began := time.Now()
	c, err := dial(e.imapAddr, e.user, e.pass)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return 0, fmt.Errorf("select %s: %w", folder, err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	fetch := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok {
				if _, err := io.ReadAll(b.Literal); err != nil {
					fetch.Close()
					return 0, err
				}
				n++
			}
		}
	}
	if err := fetch.Close(); err != nil {
		return 0, fmt.Errorf("fetch: %w", err)
	}
	d := time.Since(began)
	if n != want {
		return 0, fmt.Errorf("bare fetch read %d mails, want %d", n, want)
	}
	return d, nil
}

// replyWatch follows the sink's mails and notes when each mail's reply arrived. It reads each
// mail once (the sink hands over only new ones) and keeps a running count of the replies
// waitAll still misses, so following N mails costs O(N), not O(N²).
type replyWatch struct {
	sink    *sandbox.SMTP
	seen    int
	at      map[string]time.Time // In-Reply-To → arrival (as seen by this process)
	want    map[string]bool      // waitAll's ids
	missing int                  // of want, not yet answered
}

func newReplyWatch(s *sandbox.SMTP) *replyWatch {
	return &replyWatch{sink: s, seen: s.Count(), at: map[string]time.Time{}}
}

// scan reads mails that arrived since the last call.
func (w *replyWatch) scan(ctx context.Context) error {
	news, err := w.sink.Since(ctx, w.seen)
	if err != nil {
		return err
	}
	w.seen += len(news)
	now := time.Now()
	for _, m := range news {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data)) // reads the header only
		if err != nil {
			continue
		}
		if msg.Header.Get("Auto-Submitted") != "auto-replied" {
			continue // staff copy
		}
		id := strings.Trim(strings.TrimSpace(msg.Header.Get("In-Reply-To")), "<>")
		if _, ok := w.at[id]; !ok {
			w.at[id] = now
			if w.want[id] {
				w.missing--
			}
		}
	}
	return nil
}

func (w *replyWatch) waitFor(ctx context.Context, id string) (time.Time, error) {
	for {
		if at, ok := w.at[id]; ok {
			return at, nil
		}
		if err := w.scan(ctx); err != nil {
			return time.Time{}, err
		}
	}
}

func (w *replyWatch) waitAll(ctx context.Context, ids map[string]bool) error {
	w.want, w.missing = ids, 0
	for id := range ids {
		if _, ok := w.at[id]; !ok {
			w.missing++
		}
	}
	for w.missing > 0 {
		if err := w.scan(ctx); err != nil {
			return fmt.Errorf("%d of %d mails unanswered: %w", w.missing, len(ids), err)
		}
	}
	return nil
}

// nextMail is a valid one-item submission from one of the sample partners, with a PDF invoice.
func (e *env) nextMail() (id string, raw []byte) {
	i := e.seq
	e.seq++
	p := e.partners[i%len(e.partners)]
	id = fmt.Sprintf("bench-%s-%05d@rmad.bench", e.run, i)
	own := fmt.Sprintf("B%s-%05d", e.run, i)
	eans := []string{"4712633000024", "5204001000013"} // in-house products of the sample catalog
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: RMA Service <rma@distributor.example>\r\n", p.ID, p.Emails[0])
	fmt.Fprintf(&b, "Subject: RMA %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", own, time.Now().Format(time.RFC1123Z), id)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Own number: %s\r\nEAN: %s\r\nSerial: S%s\r\nPurchase date: %s\r\n"+
		"Description: Does not power on after a firmware update, status LED stays dark.\r\n\r\n",
		own, eans[i%len(eans)], own, time.Now().AddDate(0, -2, 0).Format("2006-01-02"))
	b.WriteString("--b0undary\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n")
	b.WriteString(base64.StdEncoding.EncodeToString(invoicePDF) + "\r\n--b0undary--\r\n")
	return id, b.Bytes()
}

var invoicePDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj " +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// printMemory prints the Redis memory of a run per kind of key, in bytes per RMA (the run's
// records; one RMA per mail).
func printMemory(out io.Writer, usage []store.KindUsage) {
	rmas := 0
	var total int64
	for _, u := range usage {
		if u.Kind == "rma" {
			rmas = u.Keys
		}
		total += u.Bytes
	}
	if rmas == 0 {
		fmt.Fprintln(out, "\nRedis memory: no RMA records")
		return
	}
	fmt.Fprintf(out, "\nRedis memory after the run (MEMORY USAGE), %d RMAs\n", rmas)
	fmt.Fprintf(out, "  %-24s %8s %12s %12s\n", "kind of key", "keys", "bytes", "bytes/RMA")
	for _, u := range usage {
		fmt.Fprintf(out, "  %-24s %8d %12d %12.0f\n", u.Kind, u.Keys, u.Bytes, float64(u.Bytes)/float64(rmas))
	}
	fmt.Fprintf(out, "  %-24s %8s %12d %12.0f\n", "all", "", total, float64(total)/float64(rmas))
}
