package ingest

import (
	"testing"

	"github.com/rmad/rmad/rma"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		subject string
		want    *rma.Command
	}{
		{"STATUS ALFA-7781", &rma.Command{Name: "status", Query: "ALFA-7781"}},
		{"status RMA/12/SR/2026", &rma.Command{Name: "status", Query: "RMA/12/SR/2026"}},
		{"Status:  SN 123 ", &rma.Command{Name: "status", Query: "SN 123"}},
		{"ΚΑΤΑΣΤΑΣΗ ALFA-1", &rma.Command{Name: "status", Query: "ALFA-1"}},
		{"Κατάσταση ALFA-1", &rma.Command{Name: "status", Query: "ALFA-1"}},
		{"STARE NOVA-101", &rma.Command{Name: "status", Query: "NOVA-101"}},
		{"STATUT TP-77", &rma.Command{Name: "status", Query: "TP-77"}},
		{"STATUS", &rma.Command{Name: "status"}},
		{"WARRANTY 4712633000024", &rma.Command{Name: "warranty", Query: "4712633000024", EAN: "4712633000024"}},
		{"WARRANTY 4712633000024 Q21AB0001", &rma.Command{Name: "warranty", Query: "4712633000024 Q21AB0001", EAN: "4712633000024", Serial: "Q21AB0001"}},
		{"ΕΓΓΥΗΣΗ 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"Εγγύηση 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"GARANTIE 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"GARANȚIE 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"GARANŢIE 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"Re: STATUS ALFA-1", &rma.Command{Name: "status", Query: "ALFA-1"}},
		{"RE: Fwd: status ALFA-1", &rma.Command{Name: "status", Query: "ALFA-1"}},
		{"ΑΠ: ΚΑΤΑΣΤΑΣΗ ALFA-1", &rma.Command{Name: "status", Query: "ALFA-1"}},
		{"ΠΡΘ: ΕΓΓΥΗΣΗ 1", &rma.Command{Name: "warranty", Query: "1", EAN: "1"}},
		{"TR: STATUT X", &rma.Command{Name: "status", Query: "X"}},
		{"RE : STATUT X", &rma.Command{Name: "status", Query: "X"}},
		{"Re[2]: STATUS X", &rma.Command{Name: "status", Query: "X"}},
		{"[EXTERNAL] STATUS X", &rma.Command{Name: "status", Query: "X"}},
		{"FW: [EXT] Re: WARRANTY 5 S", &rma.Command{Name: "warranty", Query: "5 S", EAN: "5", Serial: "S"}},
		{"RMA request", nil},
		{"Statusupdate X", nil},
		{"Re: RMA status", nil},
		{"", nil},
		{"Re:", nil},
	}
	for _, c := range cases {
		got, ok := ParseCommand(c.subject)
		if ok != (c.want != nil) || (ok && *got != *c.want) {
			t.Errorf("ParseCommand(%q) = %+v, %v; want %+v", c.subject, got, ok, c.want)
		}
	}
}

func TestStripSubjectPrefixes(t *testing.T) {
	cases := map[string]string{
		"Re: Re: RE: hello": "hello",
		"ΑΠ: ΑΠ: γεια":      "γεια",
		"Sujet: x":          "Sujet: x",
		"Re:":               "",
		"[a][b] Re: c":      "c",
		"[unclosed x":       "[unclosed x",
	}
	for in, want := range cases {
		if got := StripSubjectPrefixes(in); got != want {
			t.Errorf("StripSubjectPrefixes(%q) = %q, want %q", in, got, want)
		}
	}
}
