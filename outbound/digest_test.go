package outbound

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// digestClock: the previous digest went out on Friday 2026-03-20 08:00 Athens time, this one on
// Monday 2026-03-23 08:00 (06:00 UTC).
var (
	digestFrom = time.Date(2026, 3, 20, 6, 0, 0, 0, time.UTC)
	digestTo   = time.Date(2026, 3, 23, 6, 0, 0, 0, time.UTC)
)

// digestRecord is an in-house RMA with the given history (its first event is its creation).
func digestRecord(n int, own string, hist ...rma.Event) rma.Record {
	number := "RMA/" + strconv.Itoa(n) + "/SR/2026"
	d := inHouse(1, number, archer, rma.Item{OwnNumber: own, Serial: "SN-" + strconv.Itoa(n)})
	r := rma.Record{Number: number, PartnerID: "P-GR-001", Decision: d, History: hist,
		CreatedAt: hist[0].At, UpdatedAt: hist[0].At, Status: hist[0].Status}
	for _, ev := range hist {
		if ev.Status != r.Status {
			r.Status, r.UpdatedAt = ev.Status, ev.At
		}
	}
	return r
}

func ev(at time.Time, st rma.Status, actor, note string) rma.Event {
	return rma.Event{At: at, Status: st, Actor: actor, Note: note}
}

func digestFixture() []rma.Record {
	h := time.Hour
	created := digestFrom.Add(-10 * 24 * h)
	return []rma.Record{
		// 11: received during the window, then diagnosed: changed.
		digestRecord(11, "ALFA-1",
			ev(created, rma.StatusAwaitingGoods, "rmad", ""),
			ev(digestFrom.Add(26*h), rma.StatusReceived, "staff:maria", "parcel complete"),
			ev(digestFrom.Add(50*h), rma.StatusDiagnosing, "staff:maria", "")),
		// 12: open, nothing since its creation: listed as still open.
		digestRecord(12, "=HYPERLINK(\"http://x\")",
			ev(created, rma.StatusAwaitingGoods, "rmad", "")),
		// 13: shipped back during the window: closed now, but news.
		digestRecord(13, "ALFA-3",
			ev(created, rma.StatusAwaitingGoods, "rmad", ""),
			ev(created.Add(24*h), rma.StatusReceived, "staff:maria", ""),
			ev(created.Add(48*h), rma.StatusRepaired, "staff:maria", "new PSU"),
			ev(digestFrom.Add(2*h), rma.StatusShippedBack, "staff:nikos", "AWB 123")),
		// 14: closed before the window: not listed.
		digestRecord(14, "ALFA-4",
			ev(created, rma.StatusAwaitingGoods, "rmad", ""),
			ev(created.Add(24*h), rma.StatusClosed, "cli:root", "")),
		// 15: changed only after this digest's time: open and unchanged as of now.
		digestRecord(15, "ALFA-5",
			ev(created, rma.StatusAwaitingGoods, "rmad", ""),
			ev(digestTo.Add(time.Minute), rma.StatusReceived, "staff:maria", "late news")),
		// 16: created after this digest's time: not yet there.
		digestRecord(16, "ALFA-6",
			ev(digestTo.Add(time.Hour), rma.StatusAwaitingGoods, "rmad", "")),
		// 17: a reminder (no status change) in the window: not a change, but its note shows.
		digestRecord(17, "ALFA-7",
			ev(created, rma.StatusAwaitingGoods, "rmad", ""),
			ev(digestFrom.Add(h), rma.StatusAwaitingGoods, rules.ScheduleActor, "reminder sent")),
		// 18: created during the window: its creation is not a change (the reply told it).
		digestRecord(18, "ALFA-8",
			ev(digestFrom.Add(3*h), rma.StatusAwaitingGoods, "rmad", "")),
	}
}

func TestDigestEntries(t *testing.T) {
	recs := digestFixture()
	recs = append(recs, recs[0]) // candidates may repeat (open and changed)
	es := DigestEntries(recs, digestFrom, digestTo)
	var got []string
	for _, e := range es {
		mark := "open"
		if e.Changed() {
			mark = "changed"
		}
		got = append(got, e.Record.Number+" "+mark+" "+string(e.Status))
	}
	want := []string{
		"RMA/13/SR/2026 changed shipped_back", // oldest change first
		"RMA/11/SR/2026 changed diagnosing",
		"RMA/12/SR/2026 open awaiting_goods",
		"RMA/15/SR/2026 open awaiting_goods",
		"RMA/17/SR/2026 open awaiting_goods",
		"RMA/18/SR/2026 open awaiting_goods",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := es[1].Changes; len(c) != 2 || c[0].Status != rma.StatusReceived || c[1].Status != rma.StatusDiagnosing {
		t.Fatalf("changes of 11: %+v", c)
	}
	if !es[1].Since.Equal(digestFrom.Add(50*time.Hour)) || es[1].Note != "parcel complete" {
		t.Fatalf("11: since %v note %q", es[1].Since, es[1].Note)
	}
	if es[3].Note != "" || es[3].Status != rma.StatusAwaitingGoods {
		t.Fatalf("15 is read as of the digest: %+v", es[3])
	}
	// The reminder event neither resets "since" nor counts as a change, but is the last note.
	if es[4].Note != "reminder sent" || !es[4].Since.Equal(digestFrom.Add(-240*time.Hour)) {
		t.Fatalf("17: %+v", es[4])
	}
	// The first digest of a partner (no previous one) counts every status change ever.
	first := DigestEntries(digestFixture(), time.Time{}, digestTo)
	n := 0
	for _, e := range first {
		if e.Changed() {
			n++
		}
	}
	if n != 3 { // 11, 13 and 14 (closed long ago: news to a partner never told)
		t.Fatalf("first digest: %d changed entries, want 3", n)
	}
	// Nothing changed in a window: no entry is changed, so no digest is composed.
	quiet := DigestEntries(digestFixture(), digestTo, digestTo.Add(time.Second))
	for _, e := range quiet {
		if e.Changed() {
			t.Fatalf("changed entry in an empty window: %+v", e)
		}
	}
}

func TestDigestMail(t *testing.T) {
	c := testComposer()
	words := map[string][]string{
		"en": {"Status of your RMAs on 2026-03-23", "Changed since our previous update (2)", "Still open, no change (4)", "Shipped back", "Being diagnosed"},
		"el": {"Κατάσταση των RMA σας στις 2026-03-23", "Άλλαξαν από την προηγούμενη ενημέρωση (2)", "Ανοιχτά, χωρίς αλλαγή (4)", "Απεστάλη πίσω", "Σε διάγνωση"},
		"ro": {"Starea RMA-urilor dumneavoastră la 2026-03-23", "Modificate de la actualizarea anterioară (2)", "Încă deschise, fără modificări (4)", "Expediat înapoi", "În diagnosticare"},
		"fr": {"État de vos RMA au 2026-03-23", "Modifiés depuis notre précédent point (2)", "Toujours en cours, sans changement (4)", "Réexpédié", "En diagnostic"},
	}
	entries := DigestEntries(digestFixture(), digestFrom, digestTo)
	for _, loc := range i18n.Locales {
		t.Run(loc, func(t *testing.T) {
			p := partners[loc]
			m, err := c.Digest(p, entries, digestFrom, digestTo)
			if err != nil {
				t.Fatal(err)
			}
			msg := parse(t, m)
			if len(m.To) != 1 || m.To[0] != p.Emails[0] {
				t.Fatalf("to %v", m.To)
			}
			if got := msg.get(t, "Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted %q", got)
			}
			if got := msg.get(t, "Content-Language"); got != loc {
				t.Errorf("Content-Language %q", got)
			}
			subject := msg.subject(t)
			mustContain(t, "subject", subject, words[loc][0], "2")
			mustContain(t, "body", msg.body, words[loc][1:]...)
			// Codes beside the names, the last change and its note, and the previous digest's
			// time in the distributor's zone (08:00 Athens).
			mustContain(t, "body", msg.body, "shipped_back", "diagnosing", "RMA/11/SR/2026", "RMA/13/SR/2026",
				"RMA/12/SR/2026", "RMA/18/SR/2026", "AWB 123", "parcel complete", "2026-03-20 08:00", "reminder sent")
			mustNotContain(t, "body", msg.body, "RMA/14/SR/2026", "RMA/16/SR/2026", "late news", "{{", "<no value>")
			// Changed ones come first.
			if strings.Index(msg.body, "RMA/11/SR/2026") > strings.Index(msg.body, "RMA/12/SR/2026") {
				t.Errorf("changed RMAs must come before the unchanged ones:\n%s", msg.body)
			}
			csvData, ok := msg.files[StatusFilename]
			if !ok || msg.types[StatusFilename] != "text/csv" {
				t.Fatalf("no %s attachment: %v", StatusFilename, msg.types)
			}
			rows := readCSV(t, csvData, ',')
			if strings.Join(rows[0], ",") != "rma_number,own_number,ean,serial,status,updated_at,note" {
				t.Fatalf("header %v", rows[0])
			}
			if len(rows) != 1+len(entries) {
				t.Fatalf("%d rows for %d entries", len(rows)-1, len(entries))
			}
			if strings.Join(rows[1], "|") != "RMA/13/SR/2026|ALFA-3|5204001000013|SN-13|shipped_back|2026-03-20T10:00:00+02:00|AWB 123" {
				t.Errorf("row 1: %v", rows[1])
			}
			if strings.Join(rows[2], "|") != "RMA/11/SR/2026|ALFA-1|5204001000013|SN-11|diagnosing|2026-03-22T10:00:00+02:00|parcel complete" {
				t.Errorf("row 2: %v", rows[2])
			}
			if rows[3][1] != `'=HYPERLINK("http://x")` {
				t.Errorf("formula not neutralised: %q", rows[3][1])
			}
		})
	}
}

func TestDigestIdentity(t *testing.T) {
	c := testComposer()
	p := partners["el"]
	entries := DigestEntries(digestFixture(), digestFrom, digestTo)
	a, err := c.Digest(p, entries, digestFrom, digestTo)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Digest(p, entries, digestFrom, digestTo)
	if a.ID != b.ID {
		t.Fatal("the same digest composed twice has two Message-IDs: a resend would not be recognised")
	}
	if !strings.HasPrefix(a.ID, "digest.") || !strings.HasSuffix(a.ID, "@distributor.example") {
		t.Fatalf("Message-ID %q", a.ID)
	}
	next, _ := c.Digest(p, entries, digestFrom, digestTo.Add(24*time.Hour))
	other, _ := c.Digest(partners["ro"], entries, digestFrom, digestTo)
	if next.ID == a.ID || other.ID == a.ID {
		t.Fatal("digests of another day or partner share the Message-ID")
	}

	later := digestTo.Add(2 * time.Hour)
	quiet := DigestEntries(digestFixture(), later, later.Add(time.Hour))
	if _, err := c.Digest(p, quiet, later, later.Add(time.Hour)); err == nil {
		t.Fatal("a digest without a change was composed")
	}
	noMail := p
	noMail.Emails = nil
	if _, err := c.Digest(noMail, entries, digestFrom, digestTo); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("partner without address: %v, want ErrNoAddress", err)
	}
}
