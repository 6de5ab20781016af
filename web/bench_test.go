package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// Speed goals on the project's 2-core machine, with Redis on loopback (AOF on). A vendor's
// status feed is bursty but small: a few per second on a busy day. The goals leave a wide
// margin and catch a regression by an order of magnitude (a lock held too long, a round trip
// per history entry ...).
const (
	goalDeliveriesPerSec = 500                   // parallel, closed loop
	goalP99AtRate        = 50 * time.Millisecond // open loop at benchRate
	benchRate            = 200                   // deliveries per second
	benchRateCount       = 400                   // 2 s at benchRate
)

// BenchmarkVendorStatus measures signed vendor-status deliveries end to end over loopback HTTP:
// verification, the delivery memory, reading the RMA and the status change in Redis, each
// delivery moving another forwarded RMA to received. "bare" is a net/http handler that reads
// the body, verifies the same HMAC signature with the same verifier, does one Redis write (an
// HSET on the same Redis) and answers fixed JSON: the floor set by HTTP, the signature and
// one durable write.
//
// Run it without the race detector, against a private Redis:
//
//	bash -c '. scripts/services.sh; d=$(mktemp -d); trap "stop_services; rm -rf $d" EXIT; start_redis $d;
//	  RMAD_TEST_REDIS=127.0.0.1:$REDIS_PORT go test -run "^$" -bench VendorStatus -benchtime 2000x ./ingest/webhook/'
func BenchmarkVendorStatus(b *testing.B) {
	b.Run("ratio", benchRatio)
	for _, kind := range []string{"rmad", "bare"} {
		b.Run(kind+"/serial", func(b *testing.B) {
			url, reqs := benchSetup(b, kind, b.N)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				send(b, client, url, reqs[i])
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			report(b, b.N, lat)
		})
		b.Run(kind+"/parallel", func(b *testing.B) {
			url, reqs := benchSetup(b, kind, b.N)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var next atomic.Int64
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(4) // more requests in flight than cores, as from several vendors
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					i := next.Add(1) - 1
					t0 := time.Now()
					send(b, client, url, reqs[i])
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			perSec := report(b, b.N, lat)
			if kind == "rmad" && b.N >= 1000 && perSec < goalDeliveriesPerSec {
				b.Errorf("%.0f deliveries/s, goal %d", perSec, goalDeliveriesPerSec)
			}
		})
		b.Run(fmt.Sprintf("%s/rate=%d", kind, benchRate), func(b *testing.B) {
			// A fixed workload, whatever b.N: the framework runs it once (it takes over 1 s).
			url, reqs := benchSetup(b, kind, benchRateCount)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			lat := make([]time.Duration, benchRateCount)
			interval := time.Second / benchRate
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := range benchRateCount {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				wg.Add(1)
				go func() {
					defer wg.Done()
					send(b, client, url, reqs[i])
					lat[i] = time.Since(due) // from when it was due: no coordinated omission
				}()
			}
			wg.Wait()
			b.StopTimer()
			report(b, benchRateCount, lat)
			b.ReportMetric(0, "ns/op") // meaningless for a fixed-rate run
			if p99 := percentile(lat, 0.99); kind == "rmad" && p99 > goalP99AtRate {
				b.Errorf("p99 %s at %d/s, goal %s", p99, benchRate, goalP99AtRate)
			}
		})
	}
}

// benchRatio runs rmad and the bare handler side by side: b.N deliveries each, parallel with
// the same client settings against the same Redis, in alternating rounds (so a change in the
// machine's load hits both alike). It reports both rates and their ratio, and per delivery
// the CPU time of this process (client and server) and of Redis, the ratio of those CPU
// times (cpu-ratio), and the Redis commands run (those inside scripts too: a figure the load
// does not change), each listed in the log.
func benchRatio(b *testing.B) {
	const rounds = 4
	type side struct {
		url      string
		reqs     []benchReq
		took     time.Duration
		proc     time.Duration
		redisCPU time.Duration
		calls    map[string]int64 // Redis commands run, scripts' inner ones included
		usec     map[string]int64 // and the µs Redis spent in them (a script's include its inner ones')
	}
	sides := map[string]*side{}
	for _, kind := range []string{"rmad", "bare"} {
		url, reqs := benchSetup(b, kind, b.N)
		sides[kind] = &side{url: url, reqs: reqs, calls: map[string]int64{}, usec: map[string]int64{}}
	}
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b)})
	b.Cleanup(func() { _ = rc.Close() })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	for r := range rounds {
		for _, kind := range []string{"rmad", "bare"} {
			sd := sides[kind]
			part := sd.reqs[r*b.N/rounds : (r+1)*b.N/rounds]
			runtime.GC() // the setup's garbage is no round's work
			p0, r0 := processCPU(b), redisStats(b, rc)
			t0 := time.Now()
			sendParallel(b, client, sd.url, part)
			sd.took += time.Since(t0)
			sd.proc += processCPU(b) - p0
			r1 := redisStats(b, rc)
			sd.redisCPU += r1.cpu - r0.cpu
			for name, n := range r1.calls {
				if name != "info" && name != "hello" { // the benchmark's own, and new connections
					sd.calls[name] += n - r0.calls[name]
					sd.usec[name] += r1.usec[name] - r0.usec[name]
				}
			}
		}
	}
	b.StopTimer()
	rate := func(sd *side) float64 { return float64(b.N) / sd.took.Seconds() }
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	rm, bare := sides["rmad"], sides["bare"]
	b.ReportMetric(rate(rm), "rmad/s")
	b.ReportMetric(rate(bare), "bare/s")
	b.ReportMetric(rate(rm)/rate(bare), "ratio")
	b.ReportMetric(us(rm.proc), "rmad-proc-µs")
	b.ReportMetric(us(bare.proc), "bare-proc-µs")
	b.ReportMetric(us(rm.redisCPU), "rmad-redis-µs")
	b.ReportMetric(us(bare.redisCPU), "bare-redis-µs")
	// The CPU both need per delivery, process and Redis together, in the same ratio as the
	// rates: what the rates come to where the CPUs are the limit, less shaken by other load.
	b.ReportMetric(float64(bare.proc+bare.redisCPU)/float64(rm.proc+rm.redisCPU), "cpu-ratio")
	for _, sd := range []*side{rm, bare} {
		var total int64
		var each []string
		for _, name := range slices.Sorted(maps.Keys(sd.calls)) {
			if n := sd.calls[name]; n > 0 {
				total += n
				each = append(each, fmt.Sprintf("%s %.2f (%.1f µs)", name, float64(n)/float64(b.N), float64(sd.usec[name])/float64(b.N)))
			}
		}
		kind := "rmad"
		if sd == bare {
			kind = "bare"
		}
		b.ReportMetric(float64(total)/float64(b.N), kind+"-cmds")
		b.Logf("%s: Redis commands per delivery (and Redis's µs in them): %s", kind, strings.Join(each, ", "))
	}
	b.ReportMetric(0, "ns/op") // two workloads: the figures above say it
}

// sendParallel sends reqs from 4 goroutines per core, as RunParallel with SetParallelism(4).
func sendParallel(b *testing.B, client *http.Client, url string, reqs []benchReq) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					return
				}
				send(b, client, url, reqs[i])
			}
		})
	}
	wg.Wait()
}

// processCPU is the CPU time this process used so far, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisSnap is what the Redis server did so far: its CPU time (INFO cpu) and the commands it
// ran (INFO commandstats: those inside scripts too).
type redisSnap struct {
	cpu   time.Duration
	calls map[string]int64
	usec  map[string]int64
}

func redisStats(b *testing.B, c *redis.Client) redisSnap {
	info, err := c.Info(context.Background(), "cpu", "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	s := redisSnap{calls: map[string]int64{}, usec: map[string]int64{}}
	var cpu float64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			calls, rest, _ := strings.Cut(strings.TrimPrefix(fields, "calls="), ",")
			usec, _, _ := strings.Cut(strings.TrimPrefix(rest, "usec="), ",")
			s.calls[name], _ = strconv.ParseInt(calls, 10, 64)
			s.usec[name], _ = strconv.ParseInt(usec, 10, 64)
		}
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, _ := strconv.ParseFloat(v, 64)
				cpu += f
			}
		}
	}
	s.cpu = time.Duration(cpu * float64(time.Second))
	return s
}

type benchReq struct {
	id   string
	sig  string
	ts   string
	body []byte
}

// benchSetup starts a loopback server and signs n deliveries, each for its own forwarded RMA.
func benchSetup(b *testing.B, kind string, n int) (string, []benchReq) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	var h http.Handler
	var e *env
	if kind == "bare" {
		e = &env{t: b, now: testNow, secrets: map[string][]string{"dji": {webhook.NewSecret()}}}
		v, err := webhook.NewVerifier(e.secrets["dji"], 5*time.Minute, func() time.Time { return e.now })
		if err != nil {
			b.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b)})
		b.Cleanup(func() { _ = c.Close() })
		prefix := "bench:bare:" + randomHex(4) + ":"
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			d, err := v.Verify(r.Header, body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			// One write that is both the delivery's memory and the status change.
			if err := c.HSet(r.Context(), prefix+d.ID, "status", "received", "body", body).Err(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"rma_number":"RMA/1/SR/2026","status":"received","previous_status":"forwarded_to_vendor","updated_at":"2026-06-01T09:30:00Z"}` + "\n"))
		})
	} else {
		e = newEnv(b)
		h = e.h
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)

	numbers := make([]string, n)
	if kind == "rmad" {
		numbers = e.forwardedRMAs(n)
	} else {
		for i := range numbers {
			numbers[i] = rma.Number{N: i + 1, Year: 2026}.String()
		}
	}
	secret := e.secrets["dji"][len(e.secrets["dji"])-1]
	reqs := make([]benchReq, n)
	for i, num := range numbers {
		body := vendorBody(b, num, "RECEIVED")
		id := fmt.Sprintf("msg_bench_%d", i)
		reqs[i] = benchReq{id: id, sig: mustSign(b, secret, id, e.now, body), ts: fmt.Sprint(e.now.Unix()), body: body}
	}
	return srv.URL + "/webhooks/dji", reqs
}

func send(b *testing.B, client *http.Client, url string, d benchReq) {
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		b.Error(err)
		return
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(webhook.HeaderID, d.id)
	r.Header.Set(webhook.HeaderTimestamp, d.ts)
	r.Header.Set(webhook.HeaderSignature, d.sig)
	resp, err := client.Do(r)
	if err != nil {
		b.Error(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("delivery %s: %d %s", d.id, resp.StatusCode, body)
	}
}

// report adds deliveries/s and latency percentiles; it returns deliveries/s.
func report(b *testing.B, n int, lat []time.Duration) float64 {
	perSec := float64(n) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "deliveries/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	return perSec
}

func percentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

// forwardedRMAs creates n forwarded (DJI) RMAs for P-GR-001, in submissions of up to 500 items.
func (e *env) forwardedRMAs(n int) []string {
	e.t.Helper()
	p, _ := e.partners.ByID("P-GR-001")
	run := randomHex(4)
	var out []string
	for len(out) < n {
		k := min(500, n-len(out))
		var in webhook.SubmissionBody
		items := make([]any, k)
		for i := range items {
			items[i] = djiItem(fmt.Sprintf("BENCH-%s-%d", run, len(out)+i))
		}
		if err := json.Unmarshal(mustJSON(e.t, map[string]any{"items": items, "attachments": []any{pdfProof}}), &in); err != nil {
			e.t.Fatal(err)
		}
		sub, bad := e.srv.buildSubmission(in, p, rma.Source{Channel: "api", WebhookID: "bench:" + randomHex(8)}, "bench")
		if bad != nil {
			e.t.Fatalf("%s", bad.body)
		}
		ds, err := e.pipe.Submit(context.Background(), sub, false)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, d := range ds {
			if d.Number == "" || d.Route.Handling != rma.HandlingForward {
				e.t.Fatalf("bench RMA not forwarded: %+v", d)
			}
			out = append(out, d.Number)
		}
	}
	return out
}
