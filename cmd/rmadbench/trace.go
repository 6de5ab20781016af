package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// tracer is the daemon's log writer with -trace: the daemon logs at debug level with
// microsecond timestamps, and each latency mail's stages (the debug events of the watcher,
// the queues, the worker and the courier) are read off the lines logged between the end of its
// APPEND and its settling. The lines are kept as written and read after the run, so tracing
// costs the daemon little more than the debug log itself.
type tracer struct {
	mu    sync.Mutex
	lines [][]byte
	next  io.Writer // also written there (-log), or io.Discard
	mails []traceMail
}

// traceMail is one measured mail: when its APPEND ended, its reply reached the sink, and it
// was settled (every mail it caused sent, the queues empty).
type traceMail struct{ appended, replied, settled time.Time }

func newTracer(next io.Writer) *tracer { return &tracer{next: next} }

func (t *tracer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.lines = append(t.lines, bytes.Clone(p))
	t.mu.Unlock()
	return t.next.Write(p)
}

func (t *tracer) mark(m traceMail) {
	t.mu.Lock()
	t.mails = append(t.mails, m)
	t.mu.Unlock()
}

// traceEvent is one debug log line: when, and its stage name (component, queue, message).
type traceEvent struct {
	at    int64 // unix microseconds
	stage string
}

// events reads the kept lines (zerolog JSON with unix-microsecond times) and forgets them.
func (t *tracer) events() ([]traceEvent, []traceMail) {
	t.mu.Lock()
	lines, mails := t.lines, t.mails
	t.lines, t.mails = nil, nil
	t.mu.Unlock()
	evs := make([]traceEvent, 0, len(lines))
	for _, l := range lines {
		var f struct {
			Time      int64  `json:"time"`
			Component string `json:"component"`
			Queue     string `json:"queue"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(l, &f) != nil || f.Time == 0 {
			continue
		}
		name := f.Component
		if f.Queue != "" {
			name += " " + f.Queue
		}
		evs = append(evs, traceEvent{at: f.Time, stage: name + ": " + f.Message})
	}
	slices.SortStableFunc(evs, func(a, b traceEvent) int { return int(a.at - b.at) })
	return evs, mails
}

// print writes, per stage, the median and p90 of when it was reached after the APPEND (the
// first time in each mail's window; a stage reached again in the same window, such as the
// staff copy's "mail sent" after the reply's, counts as a stage of its own, "(2)"), ordered
// by median.
func (t *tracer) print(out io.Writer) {
	evs, mails := t.events()
	if len(mails) == 0 {
		return
	}
	offsets := map[string][]time.Duration{}
	const reply = "sink: reply received (what latency measures)"
	for _, m := range mails {
		from, to := m.appended.UnixMicro(), m.settled.UnixMicro()
		i, _ := slices.BinarySearchFunc(evs, from, func(e traceEvent, at int64) int { return int(e.at - at) })
		seen := map[string]int{}
		for ; i < len(evs) && evs[i].at <= to; i++ {
			e := evs[i]
			seen[e.stage]++
			name := e.stage
			if n := seen[e.stage]; n > 1 {
				name = fmt.Sprintf("%s (%d)", e.stage, n)
			}
			offsets[name] = append(offsets[name], time.Duration(e.at-from)*time.Microsecond)
		}
		offsets[reply] = append(offsets[reply], m.replied.Sub(m.appended))
	}
	type row struct {
		stage    string
		p50, p90 time.Duration
		n        int
	}
	var rows []row
	for s, d := range offsets {
		if len(d) < len(mails)/2 {
			continue // not a stage of most mails (a lease renewal, a timer)
		}
		slices.Sort(d)
		rows = append(rows, row{s, pct(d, 50), pct(d, 90), len(d)})
	}
	slices.SortFunc(rows, func(a, b row) int { return int(a.p50 - b.p50) })
	fmt.Fprintf(out, "  stages, %d mails: time from the end of the APPEND (median, p90), and the median's step from the stage before\n", len(mails))
	fmt.Fprintf(out, "    %-62s %9s %9s %9s\n", "stage (component[ queue]: debug log message)", "p50", "p90", "step")
	var prev time.Duration
	for _, r := range rows {
		fmt.Fprintf(out, "    %-62s %9s %9s %9s\n", r.stage, us(r.p50), us(r.p90), us(r.p50-prev))
		prev = r.p50
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
