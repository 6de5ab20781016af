package outbound

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

// Keep leaves out the parcel labels' bytes and says what the RMA page shows (kind, subject,
// date, language); Restore with the same PDF gives the mail back byte for byte, with another
// PDF that PDF in the same place; a mail without labels is kept whole.
func TestKeepRestore(t *testing.T) {
	c := testComposer()
	c.KeepFor = 12 * time.Hour
	p := partners["ro"]
	var ds []rma.Decision
	for i := 1; i <= 7; i++ { // labels of several sizes: the base64's last line differs
		ds = append(ds, inHouse(i, "RMA/"+string(rune('0'+i))+"/SR/2026", archer, rma.Item{Serial: strings.Repeat("S", i)}))
	}
	for n := 1; n <= len(ds); n++ {
		reply, err := c.Reply(submissionFor("ro", "Cereri RMA ș ț"), p, ds[:n], now)
		if err != nil {
			t.Fatal(err)
		}
		pdf := parse(t, reply).files[label.Filename]
		if pdf == nil {
			t.Fatal("reply without labels")
		}
		k, err := c.Keep(reply)
		if err != nil {
			t.Fatal(err)
		}
		if k.LabelsAt < 0 || len(k.Raw) > len(reply.Raw)-len(pdf) {
			t.Fatalf("%d labels: kept %d of %d bytes (PDF %d), labels at %d", n, len(k.Raw), len(reply.Raw), len(pdf), k.LabelsAt)
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
			t.Error("the kept mail still holds the PDF")
		}
		back, err := Restore(k, pdf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Raw, reply.Raw) || back.ID != reply.ID || back.From != reply.From {
			t.Fatalf("%d labels: restored mail differs from the one sent", n)
		}
		other := []byte("%PDF-1.4 another rendering")
		again, err := Restore(k, other)
		if err != nil {
			t.Fatal(err)
		}
		got := parse(t, again)
		if !bytes.Equal(got.files[label.Filename], other) || !bytes.Equal(got.files[ResultsFilename], parse(t, reply).files[ResultsFilename]) {
			t.Errorf("restored with another PDF: labels %q", got.files[label.Filename])
		}
		if _, err := Restore(k, nil); !errors.Is(err, ErrLabelsGone) {
			t.Errorf("no labels to put back: %v", err)
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
	if k.LabelsAt != -1 || !bytes.Equal(k.Raw, status.Raw) || k.Kind != "status" {
		t.Fatalf("status answer kept: labels at %d, kind %q, whole %v", k.LabelsAt, k.Kind, bytes.Equal(k.Raw, status.Raw))
	}
	back, err := Restore(k, nil)
	if err != nil || !bytes.Equal(back.Raw, status.Raw) {
		t.Fatalf("restore: %v", err)
	}
}

func TestWrap76(t *testing.T) {
	for _, n := range []int{0, 1, 76, 77, 152, 153} {
		s := strings.Repeat("A", n)
		got := string(wrap76(s))
		if strings.ReplaceAll(got, "\r\n", "") != s || strings.HasSuffix(got, "\r\n") {
			t.Errorf("%d: %q", n, got)
		}
		for _, line := range strings.Split(got, "\r\n") {
			if len(line) > 76 {
				t.Errorf("%d: line of %d", n, len(line))
			}
		}
	}
}
