package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisSnap is what one run did to Redis and to this process, taken before and after it.
type redisSnap struct {
	calls    map[string]int64 // INFO commandstats: command → calls
	redisCPU time.Duration    // used_cpu_user + used_cpu_sys
	selfCPU  time.Duration    // this process: daemon, in-memory IMAP server and SMTP sink
}

// benchCommands are the benchmark's own commands, not counted as the pipeline's.
var benchCommands = map[string]bool{"info": true, "slowlog": true, "config": true}

func snapshot(ctx context.Context, rc *redis.Client) (redisSnap, error) {
	s := redisSnap{calls: map[string]int64{}}
	info, err := rc.Info(ctx, "commandstats", "cpu").Result()
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
			}
			continue
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

// runStats is one run's figures.
type runStats struct {
	took              time.Duration
	mails             int
	commands          float64          // Redis commands per mail
	perCommand        map[string]int64 // calls during the run
	redisCPU, selfCPU time.Duration    // per mail
	slowest           string           // SLOWLOG's slowest entry
}

func (r runStats) rate() float64 { return float64(r.mails) / r.took.Seconds() }

func diff(before, after redisSnap, mails int) runStats {
	st := runStats{mails: mails, perCommand: map[string]int64{}}
	var total int64
	for name, n := range after.calls {
		if d := n - before.calls[name]; d > 0 && !benchCommands[name] {
			st.perCommand[name] = d
			total += d
		}
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

// slowest names the longest command SLOWLOG holds.
func slowest(ctx context.Context, rc *redis.Client) (string, error) {
	logs, err := rc.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return "", fmt.Errorf("redis slowlog: %w", err)
	}
	var best *redis.SlowLog
	for i := range logs {
		if len(logs[i].Args) > 0 && benchCommands[strings.ToLower(logs[i].Args[0])] {
			continue
		}
		if best == nil || logs[i].Duration > best.Duration {
			best = &logs[i]
		}
	}
	if best == nil {
		return "none ≥ 1 ms", nil
	}
	name := strings.ToLower(best.Args[0])
	return fmt.Sprintf("%s %.1f ms", name, float64(best.Duration)/float64(time.Millisecond)), nil
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
