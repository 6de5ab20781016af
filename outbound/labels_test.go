package outbound

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

// The reply and the staff copy carry one label per item the partner ships to the service
// centre (in_house, vendor_ticket), in the partner's language; forwarded, vendor_direct and
// rejected items get none.
func TestReplyLabels(t *testing.T) {
	c := testComposer()
	c.Labels = label.A6
	p := partners["ro"]
	p.ReturnAddress = "Bd. Unirii 10, 030167 București"
	ticket := inHouse(2, "RMA/8/SR/2026", grp2612, rma.Item{Serial: "GS-2612-9", VendorTicket: "GS-4471"})
	ticket.Route = rma.Route{Handling: rma.HandlingVendorTicket, Helpdesk: "https://helpdesk.grandstream.com/"}
	forward := inHouse(3, "RMA/9/SR/2026", mini4, rma.Item{Serial: "DJI-1"})
	forward.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	direct := inHouse(4, "", uap, rma.Item{})
	direct.Result, direct.Route = rma.ResultRedirected, rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}
	ds := []rma.Decision{
		inHouse(1, "RMA/7/SR/2026", archer, rma.Item{Serial: "RT-88812", OwnNumber: "NOVA-15"}),
		ticket, forward, direct,
		rejected(5, qnap, rma.Item{}, rma.NewProblem(rma.CodeSerialRequired, "serial")),
	}
	sub := submissionFor("ro", "Cereri RMA")
	reply, err := c.Reply(sub, p, ds, now)
	if err != nil {
		t.Fatal(err)
	}
	staff, ok, err := c.StaffCopy(sub, p, ds, now)
	if err != nil || !ok {
		t.Fatalf("staff copy: %v, %v", ok, err)
	}
	for name, m := range map[string]Message{"reply": reply, "staff copy": staff} {
		pdf := parse(t, m).files[label.Filename]
		if pdf == nil {
			t.Fatalf("%s has no %s", name, label.Filename)
		}
		var got []string
		for _, b := range testenv.Barcodes(t, pdf) {
			if b.Type == "CODE-128" {
				got = append(got, b.Data)
			}
		}
		if want := []string{"RMA/7/SR/2026", "RMA/8/SR/2026"}; !slices.Equal(got, want) {
			t.Errorf("%s: labels read %v, want %v", name, got, want)
		}
		pages := testenv.PDFText(t, pdf)
		if len(pages) != 2 {
			t.Fatalf("%s: %d A6 pages, want 2", name, len(pages))
		}
		first := strings.Join(strings.Fields(pages[0]), " ")
		mustContain(t, name+" label", first, "RMA/7/SR/2026", "Nova IT SRL", "NOVA-15", "TP-Link Archer AX55", "RT-88812",
			"Example Distribution Service RO", "Example Street 3, 031041 Bucharest, Romania", "Bd. Unirii 10, 030167 București",
			"Lipiți această etichetă")
	}
	// The reply tells the partner to stick the labels on instead of writing the number by hand.
	mustContain(t, "reply", parse(t, reply).body, label.Filename)
}

func TestNoLabelsWithoutParcelsForUs(t *testing.T) {
	c := testComposer()
	forward := inHouse(1, "RMA/9/SR/2026", mini4, rma.Item{Serial: "DJI-1"})
	forward.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	direct := inHouse(2, "", uap, rma.Item{})
	direct.Result, direct.Route = rma.ResultRedirected, rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}
	dup := inHouse(3, "RMA/3/SR/2026", archer, rma.Item{Serial: "RT-1"})
	dup.Result = rma.ResultDuplicate
	for name, ds := range map[string][]rma.Decision{
		"rejected":                {rejected(1, qnap, rma.Item{}, rma.NewProblem(rma.CodeSerialRequired, "serial"))},
		"redirected":              {direct},
		"forwarded and duplicate": {forward, dup},
	} {
		m, err := c.Reply(submissionFor("fr", "Retour"), partners["fr"], ds, now)
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, m)
		if _, ok := p.files[label.Filename]; ok {
			t.Errorf("%s: reply has %s", name, label.Filename)
		}
		mustNotContain(t, name+" reply", p.body, label.Filename)
	}
}

// More labels than one PDF holds are spread over several PDFs of at most labelsPerPDF labels
// each, named rma-labels-1.pdf …, together holding every label once, each scannable; the reply
// names them, and the staff copy carries none of them but says where to print them.
func TestLabelsInSeveralPDFs(t *testing.T) {
	c := testComposer()
	c.labelsPerPDF = 3
	var ds []rma.Decision
	var want []string
	for i := range 7 {
		n := fmt.Sprintf("RMA/%d/SR/2026", 70+i)
		ds = append(ds, inHouse(i+1, n, archer, rma.Item{Serial: fmt.Sprintf("RT-%d", 880+i)}))
		want = append(want, n)
	}
	sub := submissionFor("ro", "Cereri RMA")
	reply, err := c.Reply(sub, partners["ro"], ds, now)
	if err != nil {
		t.Fatal(err)
	}
	r := parse(t, reply)
	if _, ok := r.files[label.Filename]; ok {
		t.Errorf("reply has %s beside the numbered PDFs", label.Filename)
	}
	var got []string
	for i, size := range []int{3, 3, 1} {
		name := fmt.Sprintf("rma-labels-%d.pdf", i+1)
		pdf := r.files[name]
		if pdf == nil || r.types[name] != "application/pdf" {
			t.Fatalf("reply has no %s (%s): %v", name, r.types[name], r.types)
		}
		var in []string
		for _, b := range testenv.Barcodes(t, pdf) {
			if b.Type == "QR-Code" {
				in = append(in, b.Data)
			}
		}
		if len(in) != size {
			t.Errorf("%s: QR codes %v, want %d", name, in, size)
		}
		got = append(got, in...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("labels read %v, want %v", got, want)
	}
	mustContain(t, "reply", strings.Join(strings.Fields(r.body), " "), "rma-labels-1.pdf … rma-labels-3.pdf")

	staff, ok, err := c.StaffCopy(sub, partners["ro"], ds, now)
	if err != nil || !ok {
		t.Fatalf("staff copy: %v, %v", ok, err)
	}
	s := parse(t, staff)
	for name := range s.files {
		if strings.HasPrefix(name, "rma-labels") {
			t.Errorf("staff copy carries %s", name)
		}
	}
	mustContain(t, "staff copy", strings.Join(strings.Fields(s.body), " "),
		"Its 7 parcel labels (rma-labels-1.pdf … rma-labels-3.pdf) are not", "rmad label NUMBER")
	if _, ok := s.files[ResultsFilename]; !ok {
		t.Errorf("staff copy lacks %s", ResultsFilename)
	}
}
