package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// BenchmarkLoad fills a store with many RMAs through Commit (submissions of 100 items from four
// goroutines, as the inbox workers commit) and reports the memory per RMA open and, after
// closing and compacting them all, compacted, with the time of a look-up by number, serial and
// own number at that size. The default of 2,000 RMAs is quick; the 500,000 take minutes:
//
//	RMAD_BENCH_RMAS=500000 bash scripts/test.sh -run '^$' -bench Load -benchtime 1x ./store/
func BenchmarkLoad(b *testing.B) {
	n := 2000
	if v := os.Getenv("RMAD_BENCH_RMAS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("RMAD_BENCH_RMAS=%q: want a number of at least 100", v)
		}
	}
	n -= n % 100
	ctx := context.Background()
	for b.Loop() {
		s := newTestStore(b)
		began := time.Now()
		const workers, perSub = 4, 100
		subs := make(chan int)
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for range workers {
			wg.Go(func() {
				for sub := range subs {
					items := make([]rma.Item, perSub)
					decisions := make([]rma.Decision, perSub)
					for j := range items {
						i := sub*perSub + j
						items[j] = item(j+1, fmt.Sprintf("NOVA-%07d", i), fmt.Sprintf("RT55X%07d", i))
						items[j].Description = "Does not power on after a firmware update, status LED stays dark."
						decisions[j] = realisticDecision(items[j])
					}
					if _, err := s.Commit(ctx, mailSub("nova-it", fmt.Sprintf("load-%d@nova-it.ro", sub), items...), decisions, testNow); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
					}
				}
			})
		}
		for sub := range n / perSub {
			subs <- sub
		}
		close(subs)
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		loaded := time.Since(began)
		b.ReportMetric(float64(n)/loaded.Seconds(), "rmas-loaded/s")
		b.ReportMetric(perRMA(b, s, n), "B/rma-open")
		lookups(b, s, n, "open")

		// Close and compact them all, then drop what expires within compact_after (the
		// outcome, the reservation, the markers), as TestCompactedMemory does.
		numbers := make(chan int)
		for range workers {
			wg.Go(func() {
				for i := range numbers {
					if _, err := s.SetStatus(ctx, rma.Number{N: i, Year: 2026}.String(), rma.StatusExpired, "rmad", "", nil, testNow.Add(time.Hour)); err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
					}
				}
			})
		}
		for i := 1; i <= n; i++ {
			numbers <- i
		}
		close(numbers)
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		if rep, err := s.Compact(ctx, testNow.AddDate(1, 0, 0)); err != nil || rep.Compacted != n {
			b.Fatalf("compact: %+v, %v", rep, err)
		}
		var cursor uint64
		for {
			keys, next, err := s.c.Scan(ctx, cursor, s.k.prefix+"*", 1000).Result()
			if err != nil {
				b.Fatal(err)
			}
			for _, k := range keys {
				if ttl, err := s.c.PTTL(ctx, k).Result(); err == nil && ttl > 0 && ttl <= 90*24*time.Hour {
					s.c.Del(ctx, k)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		b.ReportMetric(perRMA(b, s, n), "B/rma-compacted")
		lookups(b, s, n, "compacted")
	}
}

func perRMA(b *testing.B, s *Store, n int) float64 {
	usage, err := MemoryUsage(context.Background(), s.c, s.k.prefix)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, u := range usage {
		total += u.Bytes
		b.Logf("%-16s %7d keys %11d B %6.0f B/RMA", u.Kind, u.Keys, u.Bytes, float64(u.Bytes)/float64(n))
	}
	return float64(total) / float64(n)
}

// lookups times 200 look-ups of random RMAs by number, serial and own number.
func lookups(b *testing.B, s *Store, n int, state string) {
	ctx := context.Background()
	for _, by := range []string{"number", "serial", "own"} {
		const tries = 200
		began := time.Now()
		for range tries {
			i := rand.IntN(n)
			q := map[string]string{"number": rma.Number{N: i + 1, Year: 2026}.String(),
				"serial": fmt.Sprintf("RT55X%07d", i), "own": fmt.Sprintf("NOVA-%07d", i)}[by]
			recs, err := s.Lookup(ctx, "nova-it", q)
			if err != nil || len(recs) != 1 {
				b.Fatalf("lookup %s %s (%s): %d records, %v", by, q, state, len(recs), err)
			}
		}
		b.ReportMetric(float64(time.Since(began).Microseconds())/tries, "µs/lookup-"+by+"-"+state)
	}
}
