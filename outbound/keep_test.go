package outbound

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Keep leaves out the parcel labels' bytes (one PDF, or several when a reply has more labels
// than one PDF holds) and says what the RMA page shows (kind, subject, date, language);
// Restore with the same PDFs gives the mail back byte for byte, with others those PDFs in the
// same places; a mail without labels is kept whole.
func TestKeepRestore(t *testing.T) {
	c := testComposer()
	c.KeepFor = 12 * time.Hour
	c.labelsPerPDF = 3
	p := partners["ro"]
	var ds []rma.Decision
	for i := 1; i <= 8; i++ { // labels of several sizes: the base64's last line differs
		ds = append(ds, inHouse(i, fmt.Sprintf("RMA/%d/SR/2026", i), archer, rma.Item{Serial: strings.Repeat("S", i)}))
	}
	for n := 1; n <= len(ds); n++ {
		reply, err := c.Reply(submissionFor("ro", "Cereri RMA ș ț"), p, ds[:n], now)
		if err != nil {
			t.Fatal(err)
		}
		files := parse(t, reply).files
		names := label.Filenames((n + 2) / 3)
		var pdfs [][]byte
		size := 0
		for _, name := range names {
			if files[name] == nil {
				t.Fatalf("%d labels: reply without %s", n, name)
			}
			pdfs = append(pdfs, files[name])
			size += len(files[name])
		}
		k, err := c.Keep(reply)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.LabelsAt) != len(names) || len(k.Raw) > len(reply.Raw)-size {
			t.Fatalf("%d labels: kept %d of %d bytes (PDFs %d), labels at %v", n, len(k.Raw), len(reply.Raw), size, k.LabelsAt)
		}
		if k.ID != reply.ID || k.Kind != "reply" || !strings.HasPrefix(k.Subject, "Re: Cereri RMA ș ț") || !k.Date.Equal(now.Truncate(time.Second)) ||
			k.Locale != "ro" || k.Retention != 12*time.Hour || k.From != reply.From || len(k.To) != 1 || k.To[0] != reply.To[0] {
			t.Errorf("kept %+v", struct {
				ID, Kind, Subject, Locale string
				Date                      time.Time
				Retention                 time.Duration
			}{k.ID, k.Kind, k.Subject, k.Locale, k.Date, k.Retention})
		}
		if bytes.Contains(k.Raw, []byte("JVBERi0")) { // "%PDF-" in base64
			t.Error("the kept mail still holds a PDF")
		}
		back, err := Restore(k, pdfs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Raw, reply.Raw) || back.ID != reply.ID || back.From != reply.From {
			t.Fatalf("%d labels: restored mail differs from the one sent", n)
		}
		var others [][]byte
		for i := range pdfs {
			others = append(others, fmt.Appendf(nil, "%%PDF-1.4 another rendering %d", i))
		}
		again, err := Restore(k, others)
		if err != nil {
			t.Fatal(err)
		}
		got := parse(t, again)
		for i, name := range names {
			if !bytes.Equal(got.files[name], others[i]) {
				t.Errorf("restored with other PDFs: %s is %q", name, got.files[name])
			}
		}
		if !bytes.Equal(got.files[ResultsFilename], files[ResultsFilename]) || got.get(t, "Subject") != parse(t, reply).get(t, "Subject") {
			t.Error("restored with other PDFs: the rest changed")
		}
		if _, err := Restore(k, pdfs[1:]); !errors.Is(err, ErrLabelsGone) {
			t.Errorf("one PDF short: %v", err)
		}
		// LabelsPDFs makes as many PDFs again, each readable.
		var ls []label.Label
		for _, d := range ds[:n] {
			ls = append(ls, label.ForDecision(d, p, c.Centers))
		}
		made, err := c.LabelsPDFs(ls, "ro")
		if err != nil || len(made) != len(pdfs) {
			t.Fatalf("LabelsPDFs: %d PDFs, %v; want %d", len(made), err, len(pdfs))
		}
		if _, err := Restore(k, made); err != nil {
			t.Fatal(err)
		}
	}

	// Without labels (a follow-up answer, a STATUS answer): kept whole.
	status, err := c.StatusAnswer(submissionFor("en", "STATUS RMA/1/SR/2026"), partners["en"], "RMA/1/SR/2026", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Keep(status)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.LabelsAt) != 0 || !bytes.Equal(k.Raw, status.Raw) || k.Kind != "status" {
		t.Fatalf("status answer kept: labels at %v, kind %q, whole %v", k.LabelsAt, k.Kind, bytes.Equal(k.Raw, status.Raw))
	}
	back, err := Restore(k, nil)
	if err != nil || !bytes.Equal(back.Raw, status.Raw) {
		t.Fatalf("restore: %v", err)
	}
}

func TestAppendBase64Lines(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 115, 1000} {
		src := bytes.Repeat([]byte{0xfb, 0x00, 'x'}, n)[:n]
		got := string(appendBase64Lines([]byte("head"), src))
		want := "head" + base64.StdEncoding.EncodeToString(src)
		if strings.ReplaceAll(got, "\r\n", "") != want || strings.HasSuffix(got, "\r\n") {
			t.Errorf("%d: %q", n, got)
		}
		for i, line := range strings.Split(strings.TrimPrefix(got, "head"), "\r\n") {
			if len(line) > 76 || len(line) < 76 && i < len(want[4:])/76-1 {
				t.Errorf("%d: line %d of %d", n, i, len(line))
			}
		}
	}
}

// Keep takes what it says of a mail (subject, date, language, where the labels were) from
// what build noted while writing it, and that is what reading the mail back gives: for
// every kind of partner mail, in every language, with one labels PDF, several or none.
func TestKeepWrittenAsRead(t *testing.T) {
	c := testComposer()
	c.labelsPerPDF = 2
	for _, loc := range i18n.Locales {
		p := partners[loc]
		sub := submissionFor(loc, "RMA  \"quoted\" — Αίτηση ș =?utf-8?q?x?= "+strings.Repeat("long subject ", 8))
		var mails []Message
		for n := 0; n <= 5; n++ {
			var ds []rma.Decision
			for i := 1; i <= n; i++ {
				ds = append(ds, inHouse(i, fmt.Sprintf("RMA/%d/SR/2026", i), archer, rma.Item{Serial: fmt.Sprintf("S%d", i)}))
			}
			if n == 5 {
				ds[4] = rejected(5, archer, rma.Item{}, rma.Problem{Code: rma.CodeSerialRequired, Field: "serial"})
			}
			reply, err := c.Reply(sub, p, ds, now.Add(time.Duration(n)*time.Second+time.Millisecond*700))
			if err != nil {
				t.Fatal(err)
			}
			mails = append(mails, reply)
		}
		status, err := c.StatusAnswer(sub, p, "RMA/1/SR/2026", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		mails = append(mails, status)
		for _, m := range mails {
			if m.written == nil {
				t.Fatalf("%s: build noted nothing", m.ID)
			}
			got, err := c.Keep(m)
			if err != nil {
				t.Fatal(err)
			}
			m.written = nil
			want, err := c.Keep(m)
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(got.Raw, want.Raw) || !slices.Equal(got.LabelsAt, want.LabelsAt) || !bytes.Equal(gj, wj) ||
				got.Dictionary != want.Dictionary || got.Retention != want.Retention {
				t.Fatalf("%s: kept from what build noted\n%s labels at %v\nread back\n%s labels at %v", m.ID, gj, got.LabelsAt, wj, want.LabelsAt)
			}
		}
	}
}

// Keep gives a partner mail the dictionary of its language: one per language and
// configuration, made once, the same after a restart (so copies made before it stay
// readable under the same id), another for another configuration; none for a mail without a
// language rmad has words for.
func TestKeepDictionary(t *testing.T) {
	c := testComposer()
	keep := func(c *Composer, locale string) store.KeptMail {
		t.Helper()
		reply, err := c.Reply(submissionFor(locale, "RMA"), partners[locale], []rma.Decision{inHouse(1, "RMA/1/SR/2026", archer, rma.Item{Serial: "S1"})}, now)
		if err != nil {
			t.Fatal(err)
		}
		k, err := c.Keep(reply)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ro, el := keep(c, "ro"), keep(c, "el")
	if ro.Dictionary == nil || el.Dictionary == nil || ro.Dictionary.ID() == el.Dictionary.ID() {
		t.Fatalf("dictionaries ro %v, el %v", ro.Dictionary, el.Dictionary)
	}
	if again := keep(c, "ro"); again.Dictionary != ro.Dictionary {
		t.Error("the ro dictionary was made twice")
	}
	keptDicts.Clear() // a restart
	if again := keep(c, "ro"); again.Dictionary.ID() != ro.Dictionary.ID() {
		t.Errorf("after a restart the ro dictionary is %s, was %s", again.Dictionary.ID(), ro.Dictionary.ID())
	}
	other := testComposer()
	other.From = "Service <service@other.example>"
	if k := keep(other, "ro"); k.Dictionary.ID() == ro.Dictionary.ID() {
		t.Error("another configuration has the same dictionary")
	}
	if d := c.mailDictionary("xx", "reply"); d != nil {
		t.Errorf("a language without words has dictionary %s", d.ID())
	}
	// A reply's dictionary is the typical reply alone; other kinds of mail get one with a
	// status and a follow-up answer in it too.
	status, err := c.StatusAnswer(submissionFor("ro", "STATUS RMA/1/SR/2026"), partners["ro"], "RMA/1/SR/2026", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Keep(status)
	if err != nil {
		t.Fatal(err)
	}
	if k.Dictionary == nil || k.Dictionary.ID() == ro.Dictionary.ID() || c.mailDictionary("ro", "followup") != k.Dictionary {
		t.Errorf("status answer's dictionary %v, the reply's %s", k.Dictionary, ro.Dictionary.ID())
	}
}
