package ingest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
)

// encode writes UTF-8 text in enc (nil: as is).
func encode(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	if enc == nil {
		return []byte(s)
	}
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

const (
	greekCSV = "Αριθμός αίτησης;EAN;Σειριακός αριθμός;Ημερομηνία αγοράς;Περιγραφή;Τύπος βλάβης\r\n" +
		"ALFA-7790;6903466000031;SN-1;04/05/2026;Δεν φορτίζει η μπαταρία, καμία ένδειξη.;battery\r\n"
	greekWant = "ean=6903466000031; serial=SN-1; purchase_date=04/05/2026; description=Δεν φορτίζει η μπαταρία, καμία ένδειξη.; own_number=ALFA-7790; fault_type=battery"

	romanianCSV = "NOVA-101;4712633000024;Q21;15.06.2026;Nu porneşte, LED-ul clipeşte roşu;reparaţie\r\n" +
		"NOVA-103;5099206000070;;01.09.2026;Butonul stâng nu mai funcţionează după update;înlocuire\r\n"
	romanianWant = "ean=4712633000024; serial=Q21; purchase_date=15.06.2026; description=Nu porneşte, LED-ul clipeşte roşu; own_number=NOVA-101; expectation=reparaţie | " +
		"ean=5099206000070; purchase_date=01.09.2026; description=Butonul stâng nu mai funcţionează după update; own_number=NOVA-103; expectation=înlocuire"

	frenchCSV = "Référence,Code EAN,Numéro de série,Date d'achat,Description du problème,Attente\n" +
		"TP-1,0810088000058,7483,12/04/2026,ne démarre plus après la mise à jour,échange\n"
	frenchWant = "ean=0810088000058; serial=7483; purchase_date=12/04/2026; description=ne démarre plus après la mise à jour; own_number=TP-1; expectation=échange"
)

func TestReadCSVEncodings(t *testing.T) {
	utf16le := xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM)
	utf16be := xunicode.UTF16(xunicode.BigEndian, xunicode.UseBOM)
	tsv := strings.ReplaceAll(greekCSV, ";", "\t")
	cases := []struct {
		name    string
		data    []byte
		wantEnc string
		want    string
	}{
		{"utf-8", encode(t, nil, greekCSV), EncUTF8, greekWant},
		{"utf-8 with bom", append([]byte{0xef, 0xbb, 0xbf}, greekCSV...), EncUTF8BOM, greekWant},
		{"utf-16le bom (Excel unicode text)", encode(t, utf16le, tsv), EncUTF16, greekWant},
		{"utf-16be bom", encode(t, utf16be, tsv), EncUTF16, greekWant},
		{"utf-16le without bom", encode(t, xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM), tsv), EncUTF16LE, greekWant},
		{"utf-16be without bom", encode(t, xunicode.UTF16(xunicode.BigEndian, xunicode.IgnoreBOM), romanianCSV), EncUTF16BE, romanianWant},
		{"windows-1253", encode(t, charmap.Windows1253, greekCSV), EncWindows1253, greekWant},
		{"iso-8859-7", encode(t, charmap.ISO8859_7, greekCSV), "", greekWant}, // same bytes as 1253 here
		{"windows-1250", encode(t, charmap.Windows1250, romanianCSV), EncWindows1250, romanianWant},
		{"iso-8859-2", encode(t, charmap.ISO8859_2, romanianCSV), "", romanianWant},
		{"windows-1252 french", encode(t, charmap.Windows1252, frenchCSV), EncWindows1252, frenchWant},
		{"utf-8 french", encode(t, nil, frenchCSV), EncUTF8, frenchWant},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := readCSVTable(c.data, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantEnc != "" && tab.encoding != c.wantEnc {
				t.Errorf("encoding %s, want %s", tab.encoding, c.wantEnc)
			}
			if got := itemsString(tab.items); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestGuessLegacyAlphabet: the Greek/Central European choice holds for the letters each
// language uses, capitals included, and for ISO-8859-7's own Ά.
func TestGuessLegacyAlphabet(t *testing.T) {
	cases := []struct {
		enc  encoding.Encoding
		text string
		want string
	}{
		{charmap.Windows1253, "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ αβγδεζηθικλμνξοπρστυφχψω άέήίόύώ ς", EncWindows1253},
		{charmap.ISO8859_7, "Άδεια Άρτα Άλλο", EncISO8859_7},
		{charmap.Windows1250, "Ă Â Î Ş Ţ ă â î ş ţ: Ştefan, Ţară, împărţire", EncWindows1250},
		{charmap.Windows1252, "Écran cassé, réparé à Besançon, pièce reçue", EncWindows1252},
	}
	for _, c := range cases {
		if got := guessLegacy(encode(t, c.enc, c.text)).name; got != c.want {
			t.Errorf("%q: guessed %s, want %s", c.text, got, c.want)
		}
	}
}

func TestReadCSVDelimiters(t *testing.T) {
	rows := [][]string{
		{"own_number", "ean", "serial", "purchase_date", "description"},
		{"A-1", "5204001000013", "S1", "2026-01-02", "reboots, then dies"},
		{"A-2", "4712633000024", "S2", "2026-01-03", "fan; noisy"},
	}
	for _, d := range []rune{',', ';', '\t', '|'} {
		t.Run(fmt.Sprintf("%q", d), func(t *testing.T) {
			var b strings.Builder
			for _, r := range rows {
				for i, cell := range r {
					if i > 0 {
						b.WriteRune(d)
					}
					if strings.ContainsRune(cell, d) || strings.ContainsAny(cell, ",;") {
						cell = `"` + cell + `"`
					}
					b.WriteString(cell)
				}
				b.WriteString("\r\n")
			}
			items, delim, err := ReadCSV([]byte(b.String()), 0)
			if err != nil {
				t.Fatal(err)
			}
			if delim != d {
				t.Errorf("delimiter %q, want %q", delim, d)
			}
			want := "ean=5204001000013; serial=S1; purchase_date=2026-01-02; description=reboots, then dies; own_number=A-1 | " +
				"ean=4712633000024; serial=S2; purchase_date=2026-01-03; description=fan; noisy; own_number=A-2"
			if got := itemsString(items); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	cases := []struct {
		name, csv, want string
		delim           rune
	}{
		{"positional without header, semicolon with commas in text", "N-1;5204001000013;S;03.03.2026;Pierde conexiunea, apoi revine;înlocuire\n",
			"ean=5204001000013; serial=S; purchase_date=03.03.2026; description=Pierde conexiunea, apoi revine; own_number=N-1; expectation=înlocuire", ';'},
		{"positional single column row", "N-1,5204001000013\n", "ean=5204001000013; own_number=N-1", ','},
		{"header in any order with extra fields", "EAN,Claim type,IBAN,Qty,Unknown column\n1,fast_refund,GR16 0110,2,x\n",
			"ean=1; claim_type=fast_refund; quantity=2; iban=GR16 0110", ','},
		{"romanian header with cedilla and comma-below", "Nr. reclamaţie;Cod EAN;Număr de serie;Data achiziției;Descriere\nN;1;S;d;x\n",
			"ean=1; serial=S; purchase_date=d; description=x; own_number=N", ';'},
		{"trailing empty rows and columns", "ean;serial;;;\n1;A;;;\n;;;;\n\n2;B;;;\n;;;;\n;;;;\n",
			"ean=1; serial=A | ean=2; serial=B", ';'},
		{"title row above the header", "RMA list Nova IT;;\nEAN;Serial;Descriere\n1;A;x\n", "ean=1; serial=A; description=x", ';'},
		{"quoted newline in a description", "ean,description\n1,\"line one\nline two\"\n", "ean=1; description=line one\nline two", ','},
		{"stray quote", "ean,description\n1,the 7\" display\n", "ean=1; description=the 7\" display", ','},
		{"scientific ean kept as sent", "own_number,ean\nN,5.90123E+12\n", "ean=5.90123E+12; own_number=N", ','},
		{"excel text markers", "ean,serial\n'5204001000013,=\"0012\"\n", "ean=5204001000013; serial=0012", ','},
		{"nbsp and spaces trimmed", "ean;serial\n\u00a05204001000013 ; S \n", "ean=5204001000013; serial=S", ';'},
		{"header only names one column", "EAN\n1\n2\n", "ean=1 | ean=2", ','},
		{"excel sep line", "sep=|\r\nean|description\r\n1|a; b, c\r\n", "ean=1; description=a; b, c", '|'},
		{"not a sep line", "sep=x;ean;serial\nN;1;S\n", "ean=1; serial=S", ';'},
		{"duplicate header: first column wins", "EAN,Serial,S/N\n1,A,B\n", "ean=1; serial=A", ','},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, delim, err := ReadCSV([]byte(c.csv), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := itemsString(items); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if delim != c.delim {
				t.Errorf("delimiter %q, want %q", delim, c.delim)
			}
			for i, it := range items {
				if it.Line != i+1 {
					t.Errorf("item %d has line %d", i, it.Line)
				}
			}
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty", nil, CSVReasonEmpty},
		{"only blank lines", []byte("\r\n;;;\r\n\r\n"), CSVReasonEmpty},
		{"header only", []byte("ean;serial;description\r\n"), CSVReasonEmpty},
		{"xlsx named csv", []byte("PK\x03\x04\x14\x00\x06\x00rest"), CSVReasonSpreadsheet},
		{"xls named csv", []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0}, CSVReasonSpreadsheet},
		{"pdf named csv", []byte("%PDF-1.4\n%\xe2\xe3"), CSVReasonBinary},
		{"binary", []byte("ab\x00\x00\x00\x01\x02cd\xff\x00"), CSVReasonBinary},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadCSV(c.data, 0)
			var ce *CSVError
			if !errors.As(err, &ce) || ce.Reason != c.reason {
				t.Errorf("error %v, want reason %s", err, c.reason)
			}
		})
	}
}

func TestReadCSVMaxRows(t *testing.T) {
	var b strings.Builder
	b.WriteString("ean,serial\n")
	for i := range 11 {
		fmt.Fprintf(&b, "%d,S%d\n\n", i, i)
	}
	items, _, err := ReadCSV([]byte(b.String()), 10)
	if !errors.Is(err, ErrTooManyRows) || len(items) != 10 {
		t.Errorf("11 rows, max 10: %d items, %v", len(items), err)
	}
	if items, _, err := ReadCSV([]byte(b.String()), 11); err != nil || len(items) != 11 {
		t.Errorf("11 rows, max 11: %d items, %v", len(items), err)
	}
}
