package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// unchanged asserts that an RMA is exactly as it was: status and history.
func unchanged(t *testing.T, e *env, before rma.Record) {
	t.Helper()
	after := e.record(before.Number)
	if after.Status != before.Status || len(after.History) != len(before.History) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("RMA %s changed: %s with %d history entries, was %s with %d",
			before.Number, after.Status, len(after.History), before.Status, len(before.History))
	}
}

func TestVendorStatusGoodDelivery(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	if st := e.record(num).Status; st != rma.StatusForwardedToVendor {
		t.Fatalf("setup: status %s", st)
	}
	w := e.deliver(delivery{source: "dji", id: "msg_good", body: vendorBody(t, num, "RECEIVED")})
	var got vendorStatusAnswer
	wantJSON(t, w, http.StatusOK, &got)
	if got.RMANumber != num || got.Status != rma.StatusReceived || got.PreviousStatus != rma.StatusForwardedToVendor {
		t.Fatalf("answer %+v", got)
	}
	rec := e.record(num)
	if rec.Status != rma.StatusReceived {
		t.Fatalf("status %s, want received", rec.Status)
	}
	ev := rec.History[len(rec.History)-1]
	want := map[string]string{"vendor_reference": "DJI-CASE-77", "tracking": "1Z999AA10123456784", "vendor_status": "RECEIVED", "webhook_id": "dji:msg_good"}
	if ev.Actor != "vendor:dji" || ev.Note != "unit received at the EU hub" || !reflect.DeepEqual(ev.Extra, want) || !ev.At.Equal(testNow) {
		t.Fatalf("history entry %+v", ev)
	}
	// The change is where the partner's digest, the worklist and the tracking search look.
	ctx := t.Context()
	if recs, err := e.store.ChangedSince(ctx, "P-GR-001", testNow.Add(-time.Second)); err != nil || len(recs) != 1 || recs[0].Number != num {
		t.Fatalf("changed since: %v %v", recs, err)
	}
	if page, err := e.store.Worklist(ctx, store.WorklistQuery{Statuses: []rma.Status{rma.StatusReceived}, Limit: 10}); err != nil || page.Total != 1 || page.Records[0].Number != num {
		t.Fatalf("worklist: %+v %v", page, err)
	}
	if recs, err := e.store.ByTracking(ctx, "1z999aa10123456784"); err != nil || len(recs) != 1 {
		t.Fatalf("by tracking: %v %v", recs, err)
	}
	// Vendor statuses are matched without case when there is no exact match.
	w = e.deliver(delivery{source: "dji", id: "msg_good2", body: vendorBody(t, num, "in_repair")})
	wantJSON(t, w, http.StatusOK, &got)
	if got.Status != rma.StatusRepairing {
		t.Fatalf("case-folded status: %+v", got)
	}
}

func TestVendorStatusRefusals(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	before := e.record(num)
	body := vendorBody(t, num, "RECEIVED")
	old := e.now.Add(-webhook.DefaultTolerance - time.Second)
	future := e.now.Add(webhook.DefaultTolerance + time.Second)
	big := append([]byte(`{"rma_number":"`+num+`","status":"RECEIVED","note":"`), bytes.Repeat([]byte("x"), int(vendorBodyBytes))...)
	big = append(big, `"}`...)

	cases := []struct {
		name   string
		d      delivery
		status int
		slug   string
	}{
		{"wrong secret", delivery{secret: webhook.NewSecret()}, 401, "invalid-signature"},
		{"tampered body", delivery{body: bytes.Replace(body, []byte("RECEIVED"), []byte("REPAIRED"), 1),
			headers: map[string]string{webhook.HeaderSignature: mustSign(t, e.secrets["dji"][1], "msg_x", e.now, body)}}, 401, "invalid-signature"},
		{"timestamp too old", delivery{at: old}, 401, "timestamp-out-of-tolerance"},
		{"timestamp too new", delivery{at: future}, 401, "timestamp-out-of-tolerance"},
		{"missing webhook-id", delivery{headers: map[string]string{webhook.HeaderID: ""}}, 400, "missing-header"},
		{"missing webhook-timestamp", delivery{headers: map[string]string{webhook.HeaderTimestamp: ""}}, 400, "missing-header"},
		{"missing webhook-signature", delivery{headers: map[string]string{webhook.HeaderSignature: ""}}, 400, "missing-header"},
		{"timestamp not a number", delivery{headers: map[string]string{webhook.HeaderTimestamp: "yesterday"}}, 400, "bad-header"},
		{"oversized body", delivery{body: big}, 413, "body-too-large"},
		{"malformed JSON", delivery{body: []byte(`{"rma_number": "` + num + `", "status": "RECEIVED"`)}, 400, "malformed-json"},
		{"not JSON at all", delivery{body: []byte(`rma_number=` + num)}, 400, "malformed-json"},
		{"unknown field", delivery{body: []byte(`{"rma_number":"` + num + `","status":"RECEIVED","colour":"red"}`)}, 400, "malformed-json"},
		{"wrong type", delivery{body: []byte(`{"rma_number":"` + num + `","status":17}`)}, 400, "malformed-json"},
		{"trailing data", delivery{body: []byte(`{"rma_number":"` + num + `","status":"RECEIVED"} {}`)}, 400, "malformed-json"},
		{"null body", delivery{body: []byte(`null`)}, 400, "malformed-json"},
		{"wrong media type", delivery{headers: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported-media-type"},
		{"unknown source", delivery{source: "nosuch"}, 404, "unknown-source"},
		{"unknown RMA", delivery{body: vendorBody(t, "RMA/999/SR/2026", "RECEIVED")}, 404, "unknown-rma"},
		{"not an RMA number", delivery{body: vendorBody(t, "12345", "RECEIVED")}, 422, "invalid-field"},
		{"missing status", delivery{body: []byte(`{"rma_number":"` + num + `"}`)}, 422, "invalid-field"},
		{"unmapped status", delivery{body: vendorBody(t, num, "TELEPORTED")}, 422, "unmapped-status"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.d
			if d.source == "" {
				d.source = "dji"
			}
			if d.id == "" {
				d.id = fmtID("msg_refused", i)
			}
			if d.body == nil {
				d.body = body
			}
			w := e.deliver(d)
			p := wantProblem(t, w, c.status, c.slug)
			if strings.Contains(p.Detail, e.secrets["dji"][0]) || strings.Contains(p.Detail, e.secrets["dji"][1]) {
				t.Fatal("problem detail leaks a secret")
			}
			unchanged(t, e, before)
		})
	}
	// The refusals are counted by source and status; an unknown source is one label.
	if got := counter(t, e, "unknown", 404); got != 1 {
		t.Errorf("webhook_requests_total{source=unknown,status=404} = %v", got)
	}
	if got := counter(t, e, "dji", 401); got != 4 {
		t.Errorf("webhook_requests_total{source=dji,status=401} = %v", got)
	}
}

func mustSign(t testing.TB, secret, id string, at time.Time, body []byte) string {
	t.Helper()
	s, err := webhook.Sign(secret, id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVendorStatusTransitions(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	w := e.deliver(delivery{source: "dji", id: "msg_ship", body: vendorBody(t, num, "SHIPPED")})
	wantJSON(t, w, http.StatusOK, &vendorStatusAnswer{})
	before := e.record(num)

	// shipped_back → received is not a legal move.
	w = e.deliver(delivery{source: "dji", id: "msg_late", body: vendorBody(t, num, "RECEIVED")})
	p := wantProblem(t, w, http.StatusConflict, "illegal-transition")
	if !strings.Contains(p.Detail, "shipped_back") || !strings.Contains(p.Detail, "received") {
		t.Errorf("detail does not say which move: %s", p.Detail)
	}
	unchanged(t, e, before)

	// In-house RMAs are not the vendor's to update.
	inHouse := e.newRMA("P-GR-001", tplinkItem("RT-88812"))
	beforeIH := e.record(inHouse)
	w = e.deliver(delivery{source: "dji", id: "msg_ih", body: vendorBody(t, inHouse, "RECEIVED")})
	wantProblem(t, w, http.StatusConflict, "rma-not-forwarded")
	unchanged(t, e, beforeIH)
}

func TestVendorStatusReplay(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	body := vendorBody(t, num, "RECEIVED")
	first := e.deliver(delivery{source: "dji", id: "msg_once", body: body})
	wantJSON(t, first, http.StatusOK, &vendorStatusAnswer{})
	after := e.record(num)

	// The sender retries with the same id and a fresh timestamp (and, after a rotation, the
	// other key): same answer, no second change.
	e.now = e.now.Add(2 * time.Minute)
	again := e.deliver(delivery{source: "dji", id: "msg_once", body: body, secret: e.secrets["dji"][0]})
	if again.Code != first.Code || again.Body.String() != first.Body.String() || again.Header().Get("Content-Type") != ContentTypeJSON {
		t.Fatalf("replay answered %d %s, first %d %s", again.Code, again.Body, first.Code, first.Body)
	}
	unchanged(t, e, after)

	// A refusal is replayed as well: the illegal move stays refused with the same words.
	ship := vendorBody(t, num, "REPLACED")
	w1 := e.deliver(delivery{source: "dji", id: "msg_repl", body: ship})
	wantJSON(t, w1, http.StatusOK, &vendorStatusAnswer{})
	back := vendorBody(t, num, "RECEIVED")
	r1 := e.deliver(delivery{source: "dji", id: "msg_back", body: back})
	wantProblem(t, r1, http.StatusConflict, "illegal-transition")
	r2 := e.deliver(delivery{source: "dji", id: "msg_back", body: back})
	wantProblem(t, r2, http.StatusConflict, "illegal-transition")
	if r1.Body.String() != r2.Body.String() {
		t.Fatalf("replayed refusal differs:\n%s\n%s", r1.Body, r2.Body)
	}
}

// Concurrent duplicates: exactly one applies, all get its answer, and so does a retry.
func TestVendorStatusConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	body := vendorBody(t, num, "RECEIVED")
	const n = 8
	var wg sync.WaitGroup
	answers := make([]*struct {
		code int
		body string
		ra   string
	}, n)
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = e.request(delivery{source: "dji", id: "msg_race", body: body})
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := e.serve(reqs[i])
			answers[i] = &struct {
				code int
				body string
				ra   string
			}{w.Code, w.Body.String(), w.Header().Get("Retry-After")}
		}()
	}
	wg.Wait()
	// The store checks and applies in one atomic step: every duplicate gets the success answer.
	ok := answers[0].body
	for _, a := range answers {
		if a.code != http.StatusOK || a.body != ok {
			t.Fatalf("answer %d %s, want 200 %s", a.code, a.body, ok)
		}
	}
	rec := e.record(num)
	applied := 0
	for _, ev := range rec.History {
		if ev.Extra["webhook_id"] == "dji:msg_race" {
			applied++
		}
	}
	if applied != 1 || rec.Status != rma.StatusReceived {
		t.Fatalf("applied %d times, status %s", applied, rec.Status)
	}
	w := e.deliver(delivery{source: "dji", id: "msg_race", body: body})
	if w.Code != http.StatusOK || w.Body.String() != ok {
		t.Fatalf("retry after the race: %d %s", w.Code, w.Body)
	}
}

// A delivery applied is recognised from the RMA's history (a success is never remembered
// apart from it, and a remembered answer of an earlier version expires): the retry answers
// the same and changes nothing.
func TestVendorStatusIdempotentWithoutMemory(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	body := vendorBody(t, num, "RECEIVED")
	src := e.srv.sources["dji"]
	d := webhook.Delivery{ID: "msg_crash"}
	apply, refused := e.srv.prepareVendorStatus(src, d, body)
	if refused != nil {
		t.Fatalf("%s", refused.body)
	}
	first := apply(t.Context()) // applied, not remembered
	after := e.record(num)
	w := e.deliver(delivery{source: "dji", id: "msg_crash", body: body})
	if w.Code != first.status || w.Body.String() != string(first.body) {
		t.Fatalf("retry answered %d %s, first %d %s", w.Code, w.Body, first.status, first.body)
	}
	unchanged(t, e, after)
}

func TestUnmappedStatusIsNotRemembered(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	body := vendorBody(t, num, "AT_HUB")
	wantProblem(t, e.deliver(delivery{source: "dji", id: "msg_hub", body: body}), 422, "unmapped-status")
	// The admin adds the status; the sender's retry of the same delivery now goes through.
	e.srv.sources["dji"] = webhook.NewSource(config.WebhookSource{Name: "dji", Kind: config.WebhookVendorStatus,
		Secrets: secretsOf(e.secrets["dji"]), StatusMap: map[string]string{"AT_HUB": "received"}}, 0, func() time.Time { return e.now })
	wantJSON(t, e.deliver(delivery{source: "dji", id: "msg_hub", body: body}), http.StatusOK, &vendorStatusAnswer{})
}

func TestRotatedSecrets(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	oldSecret, newSecret := e.secrets["dji"][0], e.secrets["dji"][1]
	wantJSON(t, e.deliver(delivery{source: "dji", id: "msg_old", secret: oldSecret, body: vendorBody(t, num, "RECEIVED")}), 200, &vendorStatusAnswer{})
	wantJSON(t, e.deliver(delivery{source: "dji", id: "msg_new", secret: newSecret, body: vendorBody(t, num, "IN_REPAIR")}), 200, &vendorStatusAnswer{})

	// After the rotation ends, the old key is refused.
	e2 := newEnv(t, func(c *Config) { c.Sources[0].Secrets = secretsOf([]string{newSecret}) })
	num2 := e2.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	before := e2.record(num2)
	wantProblem(t, e2.deliver(delivery{source: "dji", id: "msg_old", secret: oldSecret, body: vendorBody(t, num2, "RECEIVED")}), 401, "invalid-signature")
	unchanged(t, e2, before)
}

func TestMisconfiguredSource(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Sources[0].Secrets = nil })
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	before := e.record(num)
	wantProblem(t, e.deliver(delivery{source: "dji", id: "msg_1", body: vendorBody(t, num, "RECEIVED")}), 500, "source-misconfigured")
	unchanged(t, e, before)
}

func counter(t *testing.T, e *env, source string, status int) float64 {
	t.Helper()
	return metricValue(t, e.metrics.WebhookRequests.WithLabelValues(source, strconv.Itoa(status)))
}

func TestSubmissionWebhook(t *testing.T) {
	e := newEnv(t)
	body := mustJSON(t, map[string]any{
		"partner":     "P-GR-001",
		"items":       []any{djiItem("SN-DJI-0001"), map[string]any{"ean": "5.90123E+12", "purchase_date": "2026-05-01", "description": "x", "quantity": 1}},
		"attachments": []any{pdfProof},
		"notify":      true,
	})
	w := e.deliver(delivery{source: "portal", id: "evt_1", body: body})
	var got submissionAnswer
	wantJSON(t, w, http.StatusOK, &got)
	if len(got.Results) != 2 || len(got.Problems) != 0 {
		t.Fatalf("answer %s", w.Body)
	}
	r0, r1 := got.Results[0], got.Results[1]
	if r0.Line != 1 || r0.Result != rma.ResultAccepted || r0.Handling != "forward" || r0.RMANumber == "" ||
		r0.Warranty != "in_warranty" || len(r0.Codes) != 0 || r0.Serial != "SN-DJI-0001" || r0.OwnNumber != "OWN-SN-DJI-0001" {
		t.Fatalf("row 1 %+v", r0)
	}
	if r1.Line != 2 || r1.Result != rma.ResultRejected || r1.Handling != "" || r1.RMANumber != "" ||
		!contains(r1.Codes, "ean_invalid") || !contains(r1.Codes, "description_missing") || r1.Message == "" {
		t.Fatalf("row 2 %+v", r1)
	}
	// The partner's locale (el) words the messages, as in the reply's rma-results.csv.
	if !strings.ContainsAny(r1.Message, "αβγδεζηθικλμνξοπρστυφχψω") {
		t.Errorf("message not in Greek: %q", r1.Message)
	}
	rec := e.record(r0.RMANumber)
	if rec.PartnerID != "P-GR-001" || rec.Source.Channel != "webhook" || rec.Source.WebhookID != "portal:evt_1" || rec.Status != rma.StatusForwardedToVendor {
		t.Fatalf("record %+v", rec)
	}
	if e.pipe.notifications() != 1 {
		t.Fatalf("notify: %d replies queued", e.pipe.notifications())
	}

	// Replayed: same answer, no second RMA, no second reply.
	again := e.deliver(delivery{source: "portal", id: "evt_1", body: body})
	if again.Code != w.Code || again.Body.String() != w.Body.String() {
		t.Fatalf("replay %d %s", again.Code, again.Body)
	}
	if e.pipe.notifications() != 1 {
		t.Fatalf("replay queued another reply")
	}
	// The same claim in a new delivery is a duplicate of the first RMA.
	w3 := e.deliver(delivery{source: "portal", id: "evt_2", body: body})
	var dup submissionAnswer
	wantJSON(t, w3, http.StatusOK, &dup)
	if dup.Results[0].Result != rma.ResultDuplicate || dup.Results[0].RMANumber != r0.RMANumber {
		t.Fatalf("resent claim: %+v", dup.Results[0])
	}
}

func TestSubmissionWebhookRefusals(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	ok := map[string]any{"partner": "P-GR-001", "items": []any{djiItem("SN-1")}, "attachments": []any{pdfProof}}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		m[k] = v
		return mustJSON(t, m)
	}
	cases := []struct {
		name   string
		body   []byte
		status int
		slug   string
	}{
		{"unknown partner", with("partner", "P-XX-999"), 422, "unknown-partner"},
		{"missing partner", with("partner", ""), 422, "invalid-field"},
		{"unknown top-level field", with("priority", "high"), 400, "malformed-json"},
		{"unknown item field", with("items", []any{map[string]any{"ean": eanDJI, "colour": "red"}}), 400, "malformed-json"},
		{"item field of wrong type", with("items", []any{map[string]any{"ean": []int{1}}}), 400, "malformed-json"},
		{"unknown attachment field", with("attachments", []any{map[string]any{"filename": "a.pdf", "url": "http://x"}}), 400, "malformed-json"},
		{"bad base64", with("attachments", []any{map[string]any{"filename": "a.pdf", "content_base64": "%%%"}}), 422, "invalid-field"},
		{"oversized body", with("attachments", []any{map[string]any{"filename": "a.pdf", "content_base64": strings.Repeat("QUJD", 2000)}}), 413, "body-too-large"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, e.deliver(delivery{source: "portal", id: fmtID("evt_bad", i), body: c.body}), c.status, c.slug)
		})
	}
	if n := e.pipe.notifications(); n != 0 {
		t.Fatalf("refused submissions reached the pipeline")
	}
	recs, err := e.store.Lookup(t.Context(), "P-GR-001", "SN-1")
	if err != nil || len(recs) != 0 {
		t.Fatalf("refused submissions created RMAs: %v %v", recs, err)
	}
}

func TestSubmissionWholeProblems(t *testing.T) {
	e := newEnv(t)
	body := mustJSON(t, map[string]any{"partner": "P-FR-003", "items": []any{tplinkItem("X1")}})
	var got submissionAnswer
	wantJSON(t, e.deliver(delivery{source: "portal", id: "evt_np", body: body}), 200, &got)
	if len(got.Results) != 1 || got.Results[0].Result != rma.ResultRejected || !contains(got.Results[0].Codes, "proof_missing") {
		t.Fatalf("no proof: %+v", got)
	}
	if len(got.Problems) != 1 || got.Problems[0].Code != rma.CodeProofMissing || got.Problems[0].Message == "" {
		t.Fatalf("whole-submission problems: %+v", got.Problems)
	}
	body = mustJSON(t, map[string]any{"partner": "P-FR-003", "items": []any{}, "attachments": []any{pdfProof}})
	wantJSON(t, e.deliver(delivery{source: "portal", id: "evt_ni", body: body}), 200, &got)
	if len(got.Results) != 0 || len(got.Problems) != 1 || got.Problems[0].Code != rma.CodeNoItems {
		t.Fatalf("no items: %+v", got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// flaky fails the first submission, as a Redis hiccup would.
type flaky struct {
	Submitter
	calls atomic.Int32
}

func (f *flaky) Submit(ctx context.Context, sub rma.Submission, notify bool) ([]rma.Decision, error) {
	if f.calls.Add(1) == 1 {
		return nil, errors.New("redis: connection reset")
	}
	return f.Submitter.Submit(ctx, sub, notify)
}

func TestFailedDeliveryIsRetried(t *testing.T) {
	var f *flaky
	e := newEnv(t, func(c *Config) { f = &flaky{Submitter: c.Submitter}; c.Submitter = f })
	wall := time.Now()
	e.srv.guard.Now = func() time.Time { return wall }
	body := mustJSON(t, map[string]any{"partner": "P-GR-001", "items": []any{tplinkItem("F1")}, "attachments": []any{pdfProof}})
	d := delivery{source: "portal", id: "evt_flaky", body: body}

	wantProblem(t, e.deliver(d), http.StatusInternalServerError, "internal")
	w := e.deliver(d) // right away: the failed attempt's lock is still fresh
	wantProblem(t, w, http.StatusConflict, "delivery-in-progress")
	if w.Header().Get("Retry-After") == "" {
		t.Error("409 without Retry-After")
	}
	wall = wall.Add(webhook.StaleAfter + time.Second)
	var got submissionAnswer
	wantJSON(t, e.deliver(d), http.StatusOK, &got)
	if len(got.Results) != 1 || got.Results[0].Result != rma.ResultAccepted {
		t.Fatalf("retry: %+v", got)
	}
	var again submissionAnswer
	wantJSON(t, e.deliver(d), http.StatusOK, &again)
	if again.Results[0].RMANumber != got.Results[0].RMANumber || f.calls.Load() != 2 {
		t.Fatalf("replay after the retry: %+v, %d submissions", again, f.calls.Load())
	}
}

// A body declared as something other than JSON is refused with 415 before anything is read
// from the store; JSON with parameters or a +json type, or no Content-Type, is taken.
func TestWebhookMediaTypes(t *testing.T) {
	e := newEnv(t)
	num := e.newRMA("P-GR-001", djiItem("SN-DJI-MT01"))
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonp"} {
		w := e.deliver(delivery{source: "dji", id: "msg_mt_" + ct, body: vendorBody(t, num, "RECEIVED"),
			headers: map[string]string{"Content-Type": ct}})
		wantProblem(t, w, http.StatusUnsupportedMediaType, "unsupported-media-type")
	}
	if st := e.record(num).Status; st != rma.StatusForwardedToVendor {
		t.Fatalf("refused deliveries changed the status to %s", st)
	}
	for i, ct := range []string{"application/json; charset=utf-8", "application/vnd.dji+json", "application/json"} {
		to := []string{"RECEIVED", "in_repair", "RECEIVED"}[i]
		w := e.deliver(delivery{source: "dji", id: "msg_mt_ok_" + string(rune('a'+i)), body: vendorBody(t, num, to),
			headers: map[string]string{"Content-Type": ct}})
		if w.Code != http.StatusOK && w.Code != http.StatusConflict {
			t.Fatalf("%s: %d %s", ct, w.Code, w.Body)
		}
	}
}
