package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// seed commits n RMAs over the four partners in submissions of 1,000 items, a minute apart
// per submission; every third is a DJI forwarded to the vendor. It returns the numbers.
func (e *env) seed(n int) []string {
	e.t.Helper()
	partners := []string{"P-GR-001", "P-RO-002", "P-FR-003", "P-EN-004"}
	var nums []string
	for start := 0; start < n; start += 1000 {
		k := min(1000, n-start)
		p := partners[(start/1000)%len(partners)]
		sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: p,
			Source: rma.Source{Channel: "api", WebhookID: fmt.Sprintf("seed-%d-%d", e.seq, start)}}
		e.seq++
		ds := make([]rma.Decision, k)
		for i := range k {
			it := rma.Item{Line: i + 1, EAN: "5204001000013", Serial: fmt.Sprintf("BENCH-%07d", start+i),
				OwnNumber: fmt.Sprintf("PO-%07d", start+i), Description: "does not power on", Contents: "unit, PSU"}
			sub.Items = append(sub.Items, it)
			d := rma.Decision{Line: i + 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse},
				Warranty: rma.Warranty{Status: rma.WarrantyIn}, Product: &rma.Product{Brand: "TP-Link", Model: "Archer AX55"},
				ClaimType: "defective", Quantity: 1}
			if (start+i)%3 == 0 {
				d.Route.Handling, d.Product = rma.HandlingForward, &rma.Product{Brand: "DJI", Model: "Mini 4 Pro"}
			}
			ds[i] = d
		}
		out, err := e.store.Commit(context.Background(), sub, ds, e.clock())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, d := range out.Decisions {
			nums = append(nums, d.Number)
		}
		e.advance(time.Minute)
	}
	return nums
}

// sessionRequest makes a request of a signed-in staff member for the handler itself.
func (c *client) request(method, path string, form url.Values) *http.Request {
	var r *http.Request
	if form != nil {
		form.Set("csrf", c.csrf)
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	u, _ := url.Parse(c.e.srv.URL + "/console/")
	for _, ck := range c.http.Jar.Cookies(u) {
		r.AddCookie(ck)
	}
	return r
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*95/100)].Microseconds())/1000, "p95-ms")
}

// BenchmarkWorklist100k serves worklist pages with 100,000 RMAs in Redis (server side: the
// handler with its Redis round trips and the template, no network): the first page, a page
// deep in the list, and filtered pages.
func BenchmarkWorklist100k(b *testing.B) {
	e := newEnv(b)
	nums := e.seed(100_000)
	// 500 RMAs with a partner note ann has not read: every page counts them, and the
	// unread-only filter lists them.
	for i := 0; i < 500; i++ {
		e.partnerNote(nums[i*197], "service@alfa-computers.gr", "the parcel left today", fmt.Sprintf("bench-%d@alfa-computers.gr", i))
	}
	c := e.signedIn("ann", annPassword)
	for name, path := range map[string]string{
		"unread-only":   "/console/?unread=1",
		"open":          "/console/",
		"page1000":      "/console/?page=1000",
		"status":        "/console/?status=forwarded_to_vendor",
		"partner+brand": "/console/?partner=P-RO-002&brand=DJI",
		"overdue":       "/console/?overdue=1",
		"search-serial": "/console/?q=BENCH-0054321",
	} {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				w := httptest.NewRecorder()
				start := time.Now()
				e.c.ServeHTTP(w, c.request("GET", path, nil))
				lat = append(lat, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, w.Code)
				}
			}
			reportLatency(b, lat)
		})
	}
}

// BenchmarkReceiveScan receives one parcel per operation by its partner's own number, among
// 100,000 RMAs, over loopback HTTP as the scanner's browser would.
func BenchmarkReceiveScan(b *testing.B) {
	e := newEnv(b)
	nums := e.seed(100_000)
	c := e.signedIn("ann", annPassword)
	i := 0
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		code := fmt.Sprintf("PO-%07d", i)
		start := time.Now()
		p := c.post("/console/receive", "code", code)
		lat = append(lat, time.Since(start))
		if !strings.Contains(p.body, "✓ "+nums[i]+" received.") {
			b.Fatalf("scan %s: %d %s", code, p.status, p.body)
		}
		i++
	}
	reportLatency(b, lat)
}
