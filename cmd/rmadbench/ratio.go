package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// beginStats resets SLOWLOG and notes Redis's counters before a run.
func (e *env) beginStats(ctx context.Context) (redisSnap, error) {
	if err := slowlogReset(ctx, e.rc); err != nil {
		return redisSnap{}, err
	}
	return snapshot(ctx, e.rc, &e.own)
}

func (e *env) endStats(ctx context.Context, before redisSnap, mails int) (runStats, error) {
	after, err := snapshot(ctx, e.rc, &e.own)
	if err != nil {
		return runStats{}, err
	}
	st := diff(before, after, mails)
	return st, slowlog(ctx, e.rc, &st)
}

func printStats(out io.Writer, who string, st runStats) {
	fmt.Fprintf(out, "  %s: %.1f Redis commands per mail; CPU per mail %.2f ms here (daemon, IMAP server, SMTP sink), %.2f ms in Redis; slowest command: %s\n",
		who, st.commands, ms64(st.selfCPU), ms64(st.redisCPU), st.slowest)
	fmt.Fprintf(out, "    commands per mail: %s\n", st.topCommands())
	printScripts(out, st)
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bareThroughput fills a folder with o.throughput mails and times the bare pipeline on them.
func (e *env) bareThroughput(ctx context.Context, o options, name string) (runStats, error) {
	root := fmt.Sprintf("bench%s%s", e.run, name)
	in, done := root+"/in", root+"/done"
	if err := e.client.Create(in, nil).Wait(); err != nil {
		return runStats{}, fmt.Errorf("create %s: %w", in, err)
	}
	defer func() {
		for _, m := range []string{in, done, root} {
			_ = e.client.Delete(m).Wait()
		}
	}()
	for range o.throughput {
		_, raw := e.nextMail()
		if err := e.appendMail(in, raw); err != nil {
			return runStats{}, err
		}
	}
	before, err := e.beginStats(ctx)
	if err != nil {
		return runStats{}, err
	}
	took, err := e.bareRun(ctx, in, done, o.throughput, o.timeout*time.Duration(1+o.throughput/1000))
	if err != nil {
		return runStats{}, err
	}
	st, err := e.endStats(ctx, before, o.throughput)
	st.took = took
	return st, err
}

func (e *env) bareOnly(ctx context.Context, o options, out io.Writer) error {
	st, err := e.bareThroughput(ctx, o, "bare")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bare pipeline, %d mails waiting: %s, %.0f mails/s\n", o.throughput, sec(st.took), st.rate())
	printStats(out, "bare", st)
	return nil
}

// ratio runs rmad and the bare pipeline in turn, o.pairs times, each on a backlog of its own,
// so both see the same machine load as nearly as a shared machine allows.
func (e *env) ratio(ctx context.Context, o options, out io.Writer) error {
	if o.mails > 0 {
		if err := e.latencyRatio(ctx, o, out); err != nil {
			return err
		}
	}
	if o.throughput <= 0 {
		return nil
	}
	fmt.Fprintf(out, "%d mails waiting, rmad and the bare pipeline in turn\n", o.throughput)
	fmt.Fprintf(out, "  %-4s %12s %12s %7s %13s %13s %13s %13s  %-22s %-22s %s\n", "pair", "rmad mails/s", "bare mails/s", "ratio",
		"rmad cmd/mail", "bare cmd/mail", "rmad CPU/mail", "bare CPU/mail", "rmad slowest", "bare slowest", "load")
	var last, lastBare runStats
	for i := range o.pairs {
		t, err := e.throughput(ctx, o, fmt.Sprintf("ratio%d", i))
		if err != nil {
			return fmt.Errorf("pair %d, rmad: %w", i+1, err)
		}
		b, err := e.bareThroughput(ctx, o, fmt.Sprintf("bare%d", i))
		if err != nil {
			return fmt.Errorf("pair %d, bare: %w", i+1, err)
		}
		r := t.stats
		fmt.Fprintf(out, "  %-4d %12.0f %12.0f %7.2f %13.1f %13.1f %10.2f ms %10.2f ms  %-22s %-22s %s\n", i+1, r.rate(), b.rate(), r.rate()/b.rate(),
			r.commands, b.commands, ms64(r.selfCPU+r.redisCPU), ms64(b.selfCPU+b.redisCPU), r.slowest, b.slowest, loadAvg())
		last, lastBare = r, b
	}
	fmt.Fprintln(out, "  (CPU/mail: this process — daemon or bare pipeline, IMAP server, SMTP sink — plus Redis)")
	fmt.Fprintln(out, "last pair:")
	printStats(out, "rmad", last)
	printStats(out, "bare", lastBare)
	return nil
}

// latencyRatio measures latency (APPEND -> reply at the sink, o.mails mails one at a time,
// IDLE) of rmad and of the bare pipeline in turn, o.pairs times, and prints both and the ratio
// of the medians.
func (e *env) latencyRatio(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "latency, APPEND done -> reply at the SMTP sink, %d mails one at a time, IDLE, rmad and the bare pipeline in turn\n", o.mails)
	fmt.Fprintf(out, "  %-4s %10s %10s %10s %10s %10s %10s %9s  %s\n", "pair", "rmad p50", "rmad p90", "rmad p99",
		"bare p50", "bare p90", "bare p99", "p50 ratio", "load")
	for i := range o.pairs {
		r, err := e.latency(ctx, o, true)
		if err != nil {
			return fmt.Errorf("pair %d, rmad latency: %w", i+1, err)
		}
		b, err := e.bareLatency(ctx, o, fmt.Sprintf("barelat%d", i))
		if err != nil {
			return fmt.Errorf("pair %d, bare latency: %w", i+1, err)
		}
		slices.Sort(r)
		slices.Sort(b)
		fmt.Fprintf(out, "  %-4d %10s %10s %10s %10s %10s %10s %9.2f  %s\n", i+1, ms(pct(r, 50)), ms(pct(r, 90)), ms(pct(r, 99)),
			ms(pct(b, 50)), ms(pct(b, 90)), ms(pct(b, 99)), float64(pct(r, 50))/float64(pct(b, 50)), loadAvg())
		if e.trace != nil {
			e.trace.print(out)
		}
	}
	fmt.Fprintln(out)
	return nil
}
