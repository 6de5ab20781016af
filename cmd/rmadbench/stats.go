package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisSnap is what one run did to Redis and to this process, taken before and after it.
type redisSnap struct {
	calls    map[string]int64 // INFO commandstats: command → calls
	usec     map[string]int64 // INFO commandstats: command → µs inside Redis, all calls
	redisCPU time.Duration    // used_cpu_user + used_cpu_sys
	selfCPU  time.Duration    // this process: daemon, in-memory IMAP server and SMTP sink
	// Redis's own scheduling (/proc/PID/schedstat, when Redis runs on this machine): time on a
	// CPU and time runnable but waiting for one. The share of waiting is what the machine's
	// load adds to every duration Redis measures (commandstats, SLOWLOG).
	onCPU, waiting time.Duration
	own            map[string]int64 // the benchmark's own commands so far (ownCommands)
}

// benchCommands are the benchmark's own commands, not counted as the pipeline's.
var benchCommands = map[string]bool{"info": true, "slowlog": true, "config": true}

// ownCommands counts the commands the benchmark's own client (env.rc) sends — INFO, and the
// XLEN of its watch for empty queues and of its peak sampler — so that they are not counted
// as the pipeline's.
type ownCommands struct {
	mu sync.Mutex
	n  map[string]int64
}

func (o *ownCommands) add(cmds ...redis.Cmder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int64{}
	}
	for _, c := range cmds {
		o.n[c.Name()]++
	}
}

func (o *ownCommands) counts() map[string]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.n)
}

func (o *ownCommands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (o *ownCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		o.add(cmd)
		return next(ctx, cmd)
	}
}
func (o *ownCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		o.add(cmds...)
		return next(ctx, cmds)
	}
}

func snapshot(ctx context.Context, rc *redis.Client, own *ownCommands) (redisSnap, error) {
	s := redisSnap{calls: map[string]int64{}, usec: map[string]int64{}, own: own.counts()}
	info, err := rc.Info(ctx, "commandstats", "cpu", "server").Result()
	if err != nil {
		return s, fmt.Errorf("redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					s.calls[name], _ = strconv.ParseInt(v, 10, 64)
				}
				if v, ok := strings.CutPrefix(f, "usec="); ok {
					s.usec[name], _ = strconv.ParseInt(v, 10, 64)
				}
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			s.onCPU, s.waiting = schedstat(v)
		}
		for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				s.redisCPU += time.Duration(f * float64(time.Second))
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

// schedstat reads /proc/PID/schedstat of a process on this machine: nanoseconds on a CPU and
// runnable but waiting (zero when it cannot be read: a Redis elsewhere).
func schedstat(pid string) (onCPU, waiting time.Duration) {
	b, err := os.ReadFile("/proc/" + strings.TrimSpace(pid) + "/schedstat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, 0
	}
	run, _ := strconv.ParseInt(f[0], 10, 64)
	wait, _ := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(run), time.Duration(wait)
}

// runStats is one run's figures.
type runStats struct {
	took              time.Duration
	mails             int
	commands          float64          // Redis commands per mail
	perCommand        map[string]int64 // calls during the run
	perUsec           map[string]int64 // µs inside Redis during the run, per command
	redisCPU, selfCPU time.Duration    // per mail
	slowest           string           // SLOWLOG's slowest entry
	// waitShare is the part of Redis's busy time it spent runnable but waiting for a CPU
	// (-1: unknown); scripts sums up the scripts' calls.
	waitShare float64
	scripts   scriptStats
}

// scriptStats is what the run's Lua scripts (EVAL, EVALSHA, FCALL) cost inside Redis.
type scriptStats struct {
	calls, usec   int64         // commandstats: calls and µs inside Redis
	over10        int           // SLOWLOG entries of 10 ms or more
	slowest       time.Duration // SLOWLOG
	slowestKey    string        // the slowest one's first key, less the run's prefix
	plainOver10   int           // other commands of 10 ms or more, for comparison
	plainSlowest  time.Duration
	plainSlowName string
}

var scriptCommands = map[string]bool{"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true}

func (r runStats) rate() float64 { return float64(r.mails) / r.took.Seconds() }

func diff(before, after redisSnap, mails int) runStats {
	st := runStats{mails: mails, perCommand: map[string]int64{}, perUsec: map[string]int64{}, waitShare: -1}
	var total int64
	for name, n := range after.calls {
		if d := n - before.calls[name] - (after.own[name] - before.own[name]); d > 0 && !benchCommands[name] {
			st.perCommand[name] = d
			st.perUsec[name] = after.usec[name] - before.usec[name]
			total += d
			if scriptCommands[name] {
				st.scripts.calls += d
				st.scripts.usec += st.perUsec[name]
			}
		}
	}
	if run, wait := after.onCPU-before.onCPU, after.waiting-before.waiting; run+wait > 0 {
		st.waitShare = float64(wait) / float64(run+wait)
	}
	st.commands = float64(total) / float64(mails)
	st.redisCPU = (after.redisCPU - before.redisCPU) / time.Duration(mails)
	st.selfCPU = (after.selfCPU - before.selfCPU) / time.Duration(mails)
	return st
}

// slowlogReset makes SLOWLOG keep every command of 1 ms or more (up to 4096) from now on.
func slowlogReset(ctx context.Context, rc *redis.Client) error {
	if err := rc.ConfigSet(ctx, "slowlog-log-slower-than", "1000").Err(); err != nil {
		return fmt.Errorf("redis config: %w", err)
	}
	if err := rc.ConfigSet(ctx, "slowlog-max-len", "4096").Err(); err != nil {
		return fmt.Errorf("redis config: %w", err)
	}
	return rc.Do(ctx, "SLOWLOG", "RESET").Err()
}

// slowlog reads SLOWLOG: the longest command it holds (named in st.slowest) and, for scripts
// and for the other commands apart, how many took 10 ms or more and the longest.
func slowlog(ctx context.Context, rc *redis.Client, st *runStats) error {
	logs, err := rc.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return fmt.Errorf("redis slowlog: %w", err)
	}
	var best *redis.SlowLog
	sc := &st.scripts
	for i := range logs {
		l := &logs[i]
		if len(l.Args) == 0 || benchCommands[strings.ToLower(l.Args[0])] {
			continue
		}
		if best == nil || l.Duration > best.Duration {
			best = l
		}
		name := strings.ToLower(l.Args[0])
		if scriptCommands[name] {
			if l.Duration >= 10*time.Millisecond {
				sc.over10++
			}
			if l.Duration > sc.slowest {
				sc.slowest, sc.slowestKey = l.Duration, ""
				if len(l.Args) > 3 { // EVALSHA sha numkeys key …
					// Less the run's key prefix (up to the first colon): the kind of key.
					_, sc.slowestKey, _ = strings.Cut(l.Args[3], ":")
				}
			}
			continue
		}
		if l.Duration >= 10*time.Millisecond {
			sc.plainOver10++
		}
		if l.Duration > sc.plainSlowest {
			sc.plainSlowest, sc.plainSlowName = l.Duration, name
		}
	}
	st.slowest = "none ≥ 1 ms"
	if best != nil {
		st.slowest = fmt.Sprintf("%s %.1f ms", strings.ToLower(best.Args[0]), float64(best.Duration)/float64(time.Millisecond))
	}
	return nil
}

// printScripts is the line on the run's Lua scripts: what they took inside Redis on average
// and at most (SLOWLOG), beside the other commands, and how much of Redis's time the machine's
// load made it wait for a CPU — which every one of those durations includes.
func printScripts(out io.Writer, st runStats) {
	sc := st.scripts
	if sc.calls == 0 {
		return
	}
	fmt.Fprintf(out, "    scripts: %d calls, %.0f µs each inside Redis on average; in SLOWLOG %d of 10 ms or more, slowest %s",
		sc.calls, float64(sc.usec)/float64(sc.calls), sc.over10, msDur(sc.slowest))
	if sc.slowestKey != "" {
		fmt.Fprintf(out, " (first key %s)", sc.slowestKey)
	}
	fmt.Fprintf(out, "; other commands: %d of 10 ms or more, slowest %s %s\n", sc.plainOver10, sc.plainSlowName, msDur(sc.plainSlowest))
	// Redis's CPU time is what the load does not stretch: all of it over the script calls bounds
	// what one call costs on average (the other commands' CPU is in it too).
	perCall := st.redisCPU * time.Duration(st.mails) / time.Duration(sc.calls)
	fmt.Fprintf(out, "    Redis CPU per script call at most %s (all its CPU in the run ÷ script calls)", msDur(perCall))
	if st.waitShare >= 0 {
		fmt.Fprintf(out, "; Redis waited for a CPU %.0f %% of the time it was runnable (schedstat), which the durations above include", 100*st.waitShare)
	}
	fmt.Fprintln(out)
}

func msDur(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// topCommands lists the commands of a run by calls per mail, most first.
func (r runStats) topCommands() string {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range r.perCommand {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var b strings.Builder
	for i, e := range all {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.2f", e.k, float64(e.v)/float64(r.mails))
	}
	return b.String()
}
