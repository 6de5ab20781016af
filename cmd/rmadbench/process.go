package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/queue"
)

// With -process the daemon runs in a child process (this binary with -daemon CONFIG), so the
// peak RSS it reports is rmad's own: in-process, the in-memory IMAP server holding the backlog
// and the SMTP sink keeping every mail it got would be counted with it.

// childDaemon is the child: it runs the daemon on o.daemonCfg until SIGTERM, then prints its
// memory figures on stdout (childMemory's lines: "vmhwm_bytes N", its peak RSS, and the Go
// runtime's). Logs go to stderr.
func childDaemon(o options) int {
	cfg, err := loadConfig(o.daemonCfg, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rmadbench -daemon: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := config.NewLogger(cfg.Log, os.Stderr)
	daemon.SetMemoryLimit(cfg, log) // as rmad run does: limits.memory_limit, or GOMEMLIMIT
	d, err := daemon.New(ctx, cfg, log,
		daemon.Options{Workers: o.workers, Consumer: o.consumer, SMTPMessagesPerSession: o.perSession})
	if err != nil {
		fmt.Fprintf(os.Stderr, "rmadbench -daemon: %v\n", err)
		return 1
	}
	watch := newHeapWatch(os.Getenv("RMADBENCH_HEAPPROFILE"))
	wctx, stopWatch := context.WithCancel(ctx)
	go watch.run(wctx)
	err = d.Run(ctx)
	stopWatch()
	<-watch.done
	if path := os.Getenv("RMADBENCH_MEMPROFILE"); path != "" { // what allocated how much, for pprof -sample_index=alloc_space
		if f, ferr := os.Create(path); ferr == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	hwm, herr := procStatus(os.Getpid(), "VmHWM:")
	if herr != nil {
		fmt.Fprintf(os.Stderr, "rmadbench -daemon: %v\n", herr)
	}
	fmt.Printf("vmhwm_bytes %d\n", hwm)
	watch.print(os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rmadbench -daemon: %v\n", err)
		return 1
	}
	return 0
}

// heapWatch follows the Go runtime's live heap (what the last collection found reachable) while
// the daemon runs, keeping its peak; with a path it writes a heap profile there (pprof
// -sample_index=inuse_space: what was live at the last collection) whenever the live heap has
// grown by a tenth over the last one written, so the file left is what was live at (about) the
// peak.
type heapWatch struct {
	path     string
	livePeak uint64
	done     chan struct{}
}

func newHeapWatch(path string) *heapWatch { return &heapWatch{path: path, done: make(chan struct{})} }

func (w *heapWatch) run(ctx context.Context) {
	defer close(w.done)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var written uint64
	for ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		metrics.Read(sample)
		live := sample[0].Value.Uint64()
		w.livePeak = max(w.livePeak, live)
		if w.path != "" && live > written+written/10 {
			written = live
			if f, err := os.Create(w.path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}

// print writes the child's runtime figures, one "name value" line each (childMemory reads them).
func (w *heapWatch) print(out io.Writer) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	fmt.Fprintf(out, "heap_live_peak_bytes %d\nheap_allocs_bytes %d\ngc_cycles %d\nmemory_limit_bytes %d\n",
		w.livePeak, s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64())
}

// childMemory is what the daemon's process printed about its memory when it stopped.
type childMemory struct {
	peakRSS     int64 // VmHWM
	livePeak    int64 // the most the collector found live (sampled every 20 ms)
	allocated   int64 // all heap allocations of the run
	collections int64
	limit       int64 // the soft memory limit it ran with (math.MaxInt64: none)
}

func parseChildMemory(out []byte) childMemory {
	var m childMemory
	fields := map[string]*int64{"vmhwm_bytes": &m.peakRSS, "heap_live_peak_bytes": &m.livePeak,
		"heap_allocs_bytes": &m.allocated, "gc_cycles": &m.collections, "memory_limit_bytes": &m.limit}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), " ")
		if p := fields[name]; p != nil {
			*p, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return m
}

// String is the figures after the peak RSS: "live heap at most …, … allocated in … collections,
// soft memory limit …".
func (m childMemory) String() string {
	limit := "none"
	if m.limit > 0 && m.limit < math.MaxInt64 {
		limit = mb(m.limit)
	}
	return fmt.Sprintf("live heap at most %s, %s allocated, %d collections, soft memory limit %s",
		mb(m.livePeak), mb(m.allocated), m.collections, limit)
}

// startChild starts the daemon of r in a child process; cancelling ctx sends it SIGTERM.
func (r *daemonRun) startChild(ctx context.Context, died context.CancelCauseFunc) {
	o := r.e.opt
	args := []string{"-daemon", r.cfgPath, "-consumer", r.consumer, "-workers", strconv.Itoa(r.workers),
		"-smtp-per-session", strconv.Itoa(o.perSession), "-max-items", strconv.Itoa(o.maxItems),
		"-inbox-backlog", strconv.FormatInt(o.backlog, 10)}
	if o.smtpLogin {
		args = append(args, "-smtp-login")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Stdout, cmd.Stderr = &r.childOut, r.e.logw
	r.child = cmd
	if err := cmd.Start(); err != nil {
		died(fmt.Errorf("the daemon's process did not start: %v", err))
		r.exited <- err
		return
	}
	go func() {
		err := cmd.Wait()
		if ctx.Err() != nil && cmd.ProcessState != nil && cmd.ProcessState.Success() {
			err = nil // stopped on purpose: SIGTERM ends it cleanly (Wait says the context ended)
		}
		r.memory = parseChildMemory(r.childOut.Bytes())
		died(fmt.Errorf("the daemon's process ended: %v", err))
		r.exited <- err
	}()
}

// procStatus reads one "Vm…:" line of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// pending counts the entries of the run's inbox and outbox streams.
func (r *daemonRun) pending(ctx context.Context) (int64, error) {
	var total int64
	for _, s := range []string{queue.Inbox, queue.Outbox} {
		n, err := r.e.rc.XLen(ctx, r.prefix+s).Result()
		if err != nil {
			return 0, fmt.Errorf("XLEN %s: %w", s, err)
		}
		total += n
	}
	return total, nil
}

// peaks samples, while a run goes on, Redis's used_memory, the run's stream lengths and the
// daemon's RSS, keeping the highest of each.
type peaks struct {
	redisBefore, redisPeak int64
	// redisEnd is used_memory once every mail is answered and the queues are empty: the RMAs'
	// own data and what is kept of them (records, indexes, markers, kept replies), not the backlog.
	redisEnd      int64
	inbox, outbox int64
	rss           int64 // VmRSS sampled: the child's with -process, else this process's
	stop          chan struct{}
	done          chan struct{}
}

func (r *daemonRun) samplePeaks(ctx context.Context, every time.Duration) *peaks {
	p := &peaks{stop: make(chan struct{}), done: make(chan struct{})}
	p.redisBefore, _ = usedMemory(ctx, r.e)
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := usedMemory(ctx, r.e); err == nil {
				p.redisPeak = max(p.redisPeak, m)
			}
			if n, err := r.e.rc.XLen(ctx, r.prefix+queue.Inbox).Result(); err == nil {
				p.inbox = max(p.inbox, n)
			}
			if n, err := r.e.rc.XLen(ctx, r.prefix+queue.Outbox).Result(); err == nil {
				p.outbox = max(p.outbox, n)
			}
			pid := os.Getpid()
			if r.child != nil && r.child.Process != nil {
				pid = r.child.Process.Pid
			}
			if rss, err := procStatus(pid, "VmRSS:"); err == nil {
				p.rss = max(p.rss, rss)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peaks) end() { close(p.stop); <-p.done }

// settled notes used_memory after the run, everything answered and the queues empty.
func (p *peaks) settled(ctx context.Context, e *env) {
	p.redisEnd, _ = usedMemory(ctx, e)
}

func usedMemory(ctx context.Context, e *env) (int64, error) {
	info, err := e.rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no used_memory")
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// Size of -big mails: under limits.max_message_bytes' default of 25 MiB, with the CSV's rows.
const (
	bigMailBytes = 25 << 20 * 97 / 100
	bigMailRows  = 10000 - 1 // with the header, limits.max_csv_rows
)

// bigMail is a submission of bigMailRows items in a CSV attachment (in-house products of the
// sample catalog, distinct serials) with a scanned invoice that fills the mail to bigMailBytes.
func (e *env) bigMail() (id string, raw []byte) {
	i := e.seq
	e.seq++
	p := e.partners[i%len(e.partners)]
	id = fmt.Sprintf("big-%s-%05d@rmad.bench", e.run, i)
	eans := []string{"4712633000024", "5204001000013"}
	var csv bytes.Buffer
	csv.WriteString("own_number;ean;serial;purchase_date;description\r\n")
	date := time.Now().AddDate(0, -2, 0).Format("2006-01-02")
	for row := range bigMailRows {
		fmt.Fprintf(&csv, "B%s-%d-%05d;%s;S%s%d%05d;%s;Does not power on after a firmware update, status LED dark (unit %d)\r\n",
			e.run, i, row, eans[row%len(eans)], e.run, i, row, date, row)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: RMA Service <rma@distributor.example>\r\n", p.ID, p.Emails[0])
	fmt.Fprintf(&b, "Subject: RMA batch %d\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", i, time.Now().Format(time.RFC1123Z), id)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("Our returns are in the attached CSV, the invoice is attached.\r\n\r\n")
	b.WriteString("--b0undary\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"returns.csv\"\r\n\r\n")
	writeBase64(&b, csv.Bytes())
	b.WriteString("--b0undary\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"invoice-scan.pdf\"\r\n\r\n")
	// base64 takes 4/3 of the bytes plus CRLF every 76 characters: 57 bytes per 78.
	scan := make([]byte, (bigMailBytes-b.Len()-200)/78*57)
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	for j := range scan {
		scan[j] = byte(rng.Uint32())
	}
	copy(scan, invoicePDF[:9]) // "%PDF-1.4\n": a scan as a PDF
	writeBase64(&b, scan)
	b.WriteString("--b0undary--\r\n")
	return id, b.Bytes()
}

// writeBase64 writes data base64-encoded in lines of 76 characters.
func writeBase64(b *bytes.Buffer, data []byte) {
	line := make([]byte, 76)
	for len(data) > 0 {
		n := min(len(data), 57)
		base64.StdEncoding.Encode(line, data[:n])
		b.Write(line[:base64.StdEncoding.EncodedLen(n)])
		b.WriteString("\r\n")
		data = data[n:]
	}
}
