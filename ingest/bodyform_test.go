package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rmad/rmad/rma"
)

// itemsString renders items compactly for comparison: fields in field order, items split by " | ".
func itemsString(items []rma.Item) string {
	var out []string
	for _, it := range items {
		var fs []string
		for _, f := range rma.Fields {
			if v := it.Get(f); v != "" {
				fs = append(fs, f+"="+v)
			}
		}
		out = append(out, strings.Join(fs, "; "))
	}
	return strings.Join(out, " | ")
}

func TestParseBodyForm(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"english", "Hello,\n\nEAN: 5204001000013\nSerial: RT-1\nPurchase date: 2026-02-10\nDescription: reboots all the time\n\nThanks,\nJohn",
			"ean=5204001000013; serial=RT-1; purchase_date=2026-02-10; description=reboots all the time"},
		{"greek fixture labels", "Κωδικός EAN: 5204001000013\nΣειριακός αριθμός: RT-88812\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή προβλήματος: χάνει το WiFi\nΑριθμός αίτησης: ALFA-7781",
			"ean=5204001000013; serial=RT-88812; purchase_date=2026-02-10; description=χάνει το WiFi; own_number=ALFA-7781"},
		{"greek capitals without tonos", "ΚΩΔΙΚΟΣ EAN: 1\nΣΕΙΡΙΑΚΟΣ ΑΡΙΘΜΟΣ: S\nΤΥΠΟΣ ΒΛΑΒΗΣ: battery",
			"ean=1; serial=S; fault_type=battery"},
		{"romanian comma-below", "Cod EAN: 1\nNumăr de serie: S1\nData achiziției: 01.09.2026\nDescrierea defectului: nu pornește\nTip cerere: defective",
			"ean=1; serial=S1; purchase_date=01.09.2026; description=nu pornește; claim_type=defective"},
		{"romanian cedilla", "Cod EAN: 1\nNumăr de serie: S1\nData achiziţiei: 01.09.2026\nPlată la destinatar: da",
			"ean=1; serial=S1; purchase_date=01.09.2026; receiver_pays=da"},
		{"romanian without diacritics", "COD EAN: 1\nNUMAR DE SERIE: S1", "ean=1; serial=S1"},
		{"french spaces and nbsp", "Code EAN : 0810088000058\nNuméro de série\u00a0: 7483\nDate d'achat\u202f: 12/04/2026\nDescription du problème : aucune LED",
			"ean=0810088000058; serial=7483; purchase_date=12/04/2026; description=aucune LED"},
		{"french typographic apostrophe", "Date d’achat : 12/04/2026\nPort dû : oui", "purchase_date=12/04/2026; receiver_pays=oui"},
		{"colon without spaces and full-width", "EAN:1\nS/N：X9\nQty:2", "ean=1; serial=X9; quantity=2"},
		{"case and bullets", "  * ean: 1\n- SERIAL NUMBER: S\n• Vendor Ticket: GS-1", "ean=1; serial=S; vendor_ticket=GS-1"},
		{"tab from a spreadsheet", "EAN\t5204001000013\nSerial\tRT-1", "ean=5204001000013; serial=RT-1"},
		{"crlf", "EAN: 1\r\nSerial: S\r\n", "ean=1; serial=S"},
		{"two items by dashes", "EAN: 1\nSerial: A\n---\nEAN: 2\nSerial: B", "ean=1; serial=A | ean=2; serial=B"},
		{"two items by blank line and ean", "EAN: 1\nSerial: A\n\nEAN: 2\nSerial: B", "ean=1; serial=A | ean=2; serial=B"},
		{"two items by a new ean line", "EAN: 1\nSerial: A\nEAN: 2\nSerial: B", "ean=1; serial=A | ean=2; serial=B"},
		{"blank line inside one item", "EAN: 1\n\nSerial: A\nDescription: broken", "ean=1; serial=A; description=broken"},
		{"underscores and equals separate", "EAN: 1\n______\nEAN: 2\n=====\nEAN: 3", "ean=1 | ean=2 | ean=3"},
		{"wrapped description", "EAN: 1\nDescription: the router reboots every few\nminutes and loses WiFi\nSerial: S",
			"ean=1; serial=S; description=the router reboots every few minutes and loses WiFi"},
		{"value on the next lines", "EAN: 1\nDescription:\nscreen stays black\nafter update\n\nGreetings", "ean=1; description=screen stays black after update"},
		{"closing line ends a description", "EAN: 1\nDescription: dead on arrival\nThanks,\nMaria", "ean=1; description=dead on arrival"},
		{"greek closing", "EAN: 1\nΠεριγραφή: δεν ανάβει\nΕυχαριστώ πολύ", "ean=1; description=δεν ανάβει"},
		{"lines that are not labels", "Note: urgent please\nCall me at 10:30\nEAN: 1", "ean=1"},
		{"a lone date is no item", "Date: 2026-11-02\n\nsee you", ""},
		{"two fields without ean are an item", "Serial: S\nDescription: broken screen", "serial=S; description=broken screen"},
		{"first value wins", "EAN: 1\nSerial: A\nS/N: B", "ean=1; serial=A"},
		{"signature", "EAN: 1\n-- \nJohn\nSerial: not mine", "ean=1"},
		{"signature without its space", "EAN: 1\n--\nType: sig", "ean=1"},
		{"quoted lines", "EAN: 1\n> EAN: 2\n> Serial: Q\nSerial: S", "ean=1; serial=S"},
		{"top-posted reply, english", "EAN: 1\n\nOn Mon, 2 Nov 2026 at 09:01, RMA <rma@d.example> wrote:\n> EAN: 2", "ean=1"},
		{"outlook reply without quote marks", "EAN: 1\n\nOn Mon, 2 Nov 2026, RMA wrote:\nEAN: 2\nSerial: X", "ean=1"},
		{"bottom-posted reply keeps the text below the quote", "On Mon, 2 Nov 2026, RMA wrote:\n> Please send the serial.\n\nEAN: 1\nSerial: S", "ean=1; serial=S"},
		{"french attribution", "EAN: 1\nLe lun. 2 nov. 2026 à 09:01, RMA <r@d.example> a écrit :\nEAN: 2", "ean=1"},
		{"greek attribution", "EAN: 1\nΣτις Δευ 2 Νοε 2026, ο/η RMA <r@d.example> έγραψε:\nEAN: 2", "ean=1"},
		{"romanian attribution", "EAN: 1\nPe lun., 2 nov. 2026, RMA <r@d.example> a scris:\nEAN: 2", "ean=1"},
		{"original message separator", "EAN: 1\n-----Original Message-----\nEAN: 2", "ean=1"},
		{"outlook header block", "EAN: 1\n\nFrom: RMA <r@d.example>\nSent: Monday, November 2, 2026 9:01 AM\nTo: x\nSubject: RMA\nDate: 2026\nEAN: 2", "ean=1"},
		{"greek outlook header block", "EAN: 1\nΑπό: RMA\nΣτάλθηκε: Δευτέρα\nΠρος: x\nEAN: 2", "ean=1"},
		{"romanian outlook header block", "EAN: 1\nDe la: RMA\nTrimis: luni\nCătre: x\nEAN: 2", "ean=1"},
		{"french outlook header block", "EAN: 1\nDe : RMA\nEnvoyé : lundi\nÀ : x\nEAN: 2", "ean=1"},
		{"all fields", "EAN: 1\nSerial: 2\nPurchase date: 3\nDescription: 4\nYour reference: 5\nExpectation: 6\nClaim type: 7\nFault type: 8\nQuantity: 9\nAWB: 10\nAccessories: 11\nSupport ticket: 12\nIBAN: 13\nReceiver pays: 14",
			"ean=1; serial=2; purchase_date=3; description=4; own_number=5; expectation=6; claim_type=7; fault_type=8; quantity=9; tracking=10; contents=11; vendor_ticket=12; iban=13; receiver_pays=14"},
		{"spec field names", "ean: 1\nown_number: A\npurchase_date: 2026-01-01", "ean=1; purchase_date=2026-01-01; own_number=A"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := itemsString(ParseBodyForm(c.text)); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestParseBodyFormLimit(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "EAN: %d\n", i)
	}
	if n := len(parseBodyForm(b.String(), 10)); n != 10 {
		t.Errorf("%d items with limit 10", n)
	}
	if n := len(ParseBodyForm(b.String())); n != 50 {
		t.Errorf("%d items without limit", n)
	}
}

// TestLabelsUnambiguous: no folded label may name two fields, and every field name is a label.
func TestLabelsUnambiguous(t *testing.T) {
	seen := map[string]string{}
	for field, labels := range fieldLabels {
		for _, l := range append([]string{field}, labels...) {
			k := fold(l)
			if other, ok := seen[k]; ok && other != field {
				t.Errorf("label %q (%q) names both %s and %s", l, k, other, field)
			}
			seen[k] = field
		}
	}
	for _, f := range rma.Fields {
		if got, ok := fieldForLabel(f); !ok || got != f {
			t.Errorf("field name %q maps to %q", f, got)
		}
	}
	item := rma.Item{}
	for field := range fieldLabels {
		if !item.Set(field, "x") {
			t.Errorf("fieldLabels has %q, which rma.Item does not know", field)
		}
	}
}

func TestFold(t *testing.T) {
	cases := map[string]string{
		"Κωδικός EAN":             "κωδικοσ ean",
		"ΣΕΙΡΙΑΚΌΣ Αριθμός":       "σειριακοσ αριθμοσ",
		"Număr de serie":          "numar de serie",
		"Numǎr":                   "numar",
		"Data achiziţiei":         "data achizitiei",
		"Data achiziției":         "data achizitiei",
		"Date d'achat":            "date dachat",
		"Date d’achat":            "date dachat",
		"S/N":                     "sn",
		"  Nr.  serie: ":          "nr serie",
		"**EAN**":                 "ean",
		"purchase_date":           "purchase date",
		"Numéro de série":         "numero de serie",
		"Description du problème": "description du probleme",
	}
	for in, want := range cases {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}
