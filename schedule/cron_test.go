package schedule

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/internal/testenv"
)

var athens = testenv.Athens

func TestLastTick(t *testing.T) {
	digest, err := cron.ParseStandard("0 8 * * 1-5") // config.sample.yaml's digest
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, hm string, sec, ms int) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", d+" "+hm, athens)
		if err != nil {
			t.Fatal(err)
		}
		return tt.Add(time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond)
	}
	cases := []struct {
		name      string
		now, want time.Time
	}{
		{"on time", at("2026-03-23", "08:00", 0, 3), at("2026-03-23", "08:00", 0, 0)},
		{"late by minutes", at("2026-03-23", "08:03", 17, 0), at("2026-03-23", "08:00", 0, 0)},
		{"late by an hour", at("2026-03-23", "09:30", 0, 0), at("2026-03-23", "08:00", 0, 0)},
		{"no tick nearby: its own minute", at("2026-03-23", "14:07", 42, 0), at("2026-03-23", "14:07", 0, 0)},
		{"weekend", at("2026-03-28", "08:00", 5, 0), at("2026-03-28", "08:00", 0, 0)},
	}
	for _, c := range cases {
		if got := LastTick(digest, c.now); !got.Equal(c.want) {
			t.Errorf("%s: LastTick(%v) = %v, want %v", c.name, c.now, got, c.want)
		}
	}
}

func TestPrevTick(t *testing.T) {
	digest, _ := cron.ParseStandard("0 8 * * 1-5")
	sat := time.Date(2026, 3, 28, 14, 0, 0, 0, athens)
	if got, ok := PrevTick(digest, sat, 36*time.Hour); !ok || !got.Equal(time.Date(2026, 3, 27, 8, 0, 0, 0, athens)) {
		t.Fatalf("PrevTick Saturday 14:00 within 36h = %v %v, want Friday 08:00", got, ok)
	}
	if _, ok := PrevTick(digest, sat, 24*time.Hour); ok {
		t.Fatal("Friday 08:00 is more than 24h before Saturday 14:00")
	}
	never, _ := cron.ParseStandard("0 0 31 2 *")
	if _, ok := PrevTick(never, sat, 24*time.Hour); ok {
		t.Fatal("a spec that never fires has a previous tick")
	}
	if got := LastTick(never, sat.Add(90*time.Second)); !got.Equal(sat.Add(time.Minute)) {
		t.Fatalf("LastTick of a never-firing spec = %v", got)
	}
}

// The chain recovers a panic inside the skip wrapper, so the job keeps running afterwards;
// turned around (Recover outside), one panic disables the job for good — the trap DESIGN.md
// warns about.
func TestJobChainOrder(t *testing.T) {
	var log bytes.Buffer
	cl := cronLogger{zerolog.New(&log)}
	runs := 0
	job := cron.FuncJob(func() {
		runs++
		if runs == 1 {
			panic(testenv.Deliberate("boom"))
		}
	})
	wrapped := cron.NewChain(JobChain(cl)...).Then(job)
	wrapped.Run() // panics, recovered
	wrapped.Run()
	if runs != 2 {
		t.Fatalf("after a panic the job ran %d times in all, want 2", runs)
	}
	if !strings.Contains(log.String(), "panicked") || !strings.Contains(log.String(), "boom") {
		t.Fatalf("panic not logged: %s", log.String())
	}

	runs = 0
	wrong := cron.NewChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)).Then(job)
	wrong.Run()
	wrong.Run()
	if runs != 1 {
		t.Fatalf("reversed chain: %d runs; the trap is gone? (want 1: the second run skipped forever)", runs)
	}
}

func TestJobChainSkipsWhileRunning(t *testing.T) {
	var log bytes.Buffer
	cl := cronLogger{zerolog.New(&log)}
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	wrapped := cron.NewChain(JobChain(cl)...).Then(cron.FuncJob(func() {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
	}))
	done := make(chan struct{})
	go func() { wrapped.Run(); close(done) }()
	<-started
	wrapped.Run() // the first run is still going: skipped at once
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs while the first was running", n)
	}
	close(release)
	<-done
	wrapped.Run()
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs after the first ended, want 2", n)
	}
	if !strings.Contains(log.String(), "skipped") {
		t.Fatalf("skip not logged: %s", log.String())
	}
}

func TestScheduler(t *testing.T) {
	var log testenv.SyncBuffer
	clock := time.Date(2026, 3, 23, 6, 0, 0, 0, time.UTC) // Monday 08:00 in Athens
	s := NewScheduler(athens, func() time.Time { return clock }, zerolog.New(&log))
	type call struct {
		name string
		tick time.Time
	}
	calls := make(chan call, 4)
	block := make(chan struct{})
	if err := s.Add("digest", "0 8 * * 1-5", func(ctx context.Context, tick time.Time) error {
		calls <- call{"digest", tick}
		<-block
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("reminders", "30 8 * * *", func(ctx context.Context, tick time.Time) error {
		calls <- call{"reminders", tick}
		return errors.New("redis went away")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("digest", "* * * * *", nil); err == nil {
		t.Fatal("a job name added twice")
	}
	if err := s.Add("bad", "0 8 * *", nil); err == nil {
		t.Fatal("a 4-field spec was accepted")
	}
	// Ticks are read in schedule.timezone.
	noon := time.Date(2026, 3, 23, 12, 0, 0, 0, time.UTC)
	if prev, ok := s.PrevTick("digest", noon, 26*time.Hour); !ok || !prev.Equal(clock) || prev.Location() != athens {
		t.Fatalf("digest before Monday noon: %v %v, want Monday 08:00 Athens", prev, ok)
	}
	if prev, _ := s.PrevTick("reminders", noon, 26*time.Hour); !prev.Equal(time.Date(2026, 3, 23, 6, 30, 0, 0, time.UTC)) {
		t.Fatalf("reminders before Monday noon %v", prev)
	}
	if _, ok := s.PrevTick("digest", noon, time.Hour); ok {
		t.Fatal("a tick found further back than asked")
	}
	if _, ok := s.PrevTick("weekly", noon, 26*time.Hour); ok {
		t.Fatal("a tick of an unknown job")
	}

	if s.RunAt("digest", clock) {
		t.Fatal("RunAt before Start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	// Catching up a run: the job gets the tick it is asked for, in the schedule's zone.
	friday := time.Date(2026, 3, 20, 6, 0, 0, 0, time.UTC)
	if !s.RunAt("digest", friday) {
		t.Fatal("RunAt failed")
	}
	if c := <-calls; c.name != "digest" || !c.tick.Equal(friday) || c.tick.Location() != athens {
		t.Fatalf("call %+v", c)
	}
	close(block)
	if !s.RunAt("reminders", clock) {
		t.Fatal("RunAt reminders failed")
	}
	if c := <-calls; c.name != "reminders" || !c.tick.Equal(clock) {
		t.Fatalf("call %+v", c)
	}
	if s.RunAt("nope", clock) {
		t.Fatal("unknown job run")
	}
	s.Stop()
	s.Wait()
	if s.RunAt("digest", clock) {
		t.Fatal("RunAt after Stop")
	}
	out := log.String()
	for _, want := range []string{`"component":"schedule"`, "schedule started", "redis went away", `"job":"reminders"`, "scheduled job done"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
