package tnef

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/rmad/rmad/ingest/tnef/tneftest"
)

// specExample is MS-OXRTFCP's first example: compressed RTF with literals and dictionary
// references, and what it unpacks to.
var specExample = []byte{0x2d, 0, 0, 0, 0x2b, 0, 0, 0, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7,
	0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3, 0x20,
	0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0}

func TestDecompressRTF(t *testing.T) {
	if len(rtfPrebuf) != 207 {
		t.Fatalf("dictionary preset of %d bytes, MS-OXRTFCP has 207", len(rtfPrebuf))
	}
	out, err := DecompressRTF(specExample)
	if want := "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"; err != nil || string(out) != want {
		t.Fatalf("spec example: %q %v, want %q", out, err, want)
	}
	// Literals only, as tneftest writes them, round trip; "MELA" is stored as is.
	rtf := []byte(`{\rtf1\ansi\ansicpg1253 EAN: 5204001000013\par Serial: \'d3\'ce-1}`)
	if out, err := DecompressRTF(tneftest.CompressRTF(rtf)); err != nil || !bytes.Equal(out, rtf) {
		t.Errorf("literal stream: %q %v", out, err)
	}
	mela := append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil,
		uint32(len(rtf)+12)), uint32(len(rtf))), rtfUncompressed), 0, 0, 0, 0)
	if out, err := DecompressRTF(append(mela, rtf...)); err != nil || !bytes.Equal(out, rtf) {
		t.Errorf("MELA: %q %v", out, err)
	}
	// Cut short or of another kind: an error, never a panic.
	for n := range len(specExample) {
		_, _ = DecompressRTF(specExample[:n])
	}
	if _, err := DecompressRTF(specExample[:20]); err == nil {
		t.Error("a cut stream decompressed without error")
	}
	bad := bytes.Clone(specExample)
	copy(bad[8:], "ABCD")
	if _, err := DecompressRTF(bad); err == nil {
		t.Error("an unknown kind was accepted")
	}
	// The raw size bounds the output, whatever the references repeat.
	bomb := bytes.Clone(specExample[:16])
	for range 4000 {
		bomb = append(bomb, 0xff, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x1f)
	}
	binary.LittleEndian.PutUint32(bomb[0:], uint32(len(bomb)-4))
	binary.LittleEndian.PutUint32(bomb[4:], 1000)
	if out, _ := DecompressRTF(bomb); len(out) != 1000 {
		t.Errorf("%d bytes out of a stream that says 1000", len(out))
	}
}

func TestRTFText(t *testing.T) {
	cases := []struct{ name, rtf, want string }{
		{"plain with tables left out", `{\rtf1\ansi\deff0{\fonttbl{\f0 Arial;}}{\colortbl;\red0\green0\blue0;}{\*\generator Riched20;}\pard EAN: 5204001000013\par Serial: RT-1\par}`,
			"EAN: 5204001000013\nSerial: RT-1"},
		{"greek in its code page", `{\rtf1\ansi\ansicpg1253 \'c1\'df\'f4\'e7\'f3\'e7 RMA\par}`, "Αίτηση RMA"},
		{"romanian as unicode with fallbacks", `{\rtf1\ansi\ansicpg1250\uc1 Garan\u539?ie \u536\'aa}`, "Garanție Ș"},
		{"unicode with two fallback chars", `{\rtf1\uc2\u945 ab\u946\'e1\'e2 x}`, "αβ x"},
		{"negative unicode", `{\rtf1\u-3913?}`, "\uf0b7"},
		{"escapes and tabs", `{\rtf1 a\{b\}c\\d\tab e\~f\line g}`, "a{b}c\\d\te f\ng"},
		{"picture dropped", `{\rtf1 before{\*\shppict{\pict\pngblip 89504e47}}after}`, "beforeafter"},
		{"field result kept", `{\rtf1 {\field{\*\fldinst HYPERLINK "http://x"}{\fldrslt shop}}}`, "shop"},
		{"outlook from html", `{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}` +
			`{\*\htmltag19 <html>}{\*\htmltag64 <p>}\htmlrtf {\htmlrtf0 EAN: 5204001000013` +
			`{\*\htmltag116 <br>}\htmlrtf \line\htmlrtf0 Serial: RT-1{\*\htmltag84 </p>}\htmlrtf \par}\htmlrtf0 {\*\htmltag64 <p>}Thanks{\*\htmltag84 </p>}}`,
			"EAN: 5204001000013\nSerial: RT-1\n\nThanks"},
		{"outlook from text", `{\rtf1\ansi\ansicpg1252\fromtext \fbidis \deff0{\fonttbl{\f0\fswiss Arial;}}\uc1\pard\plain\deftab360 \f0\fs20 EAN 5204001000013\par Serial RT-1\par}`,
			"EAN 5204001000013\nSerial RT-1"},
		{"unbalanced braces", `}}{\rtf1 {{{ text`, "text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RTFText([]byte(c.rtf)); got != c.want {
				t.Errorf("RTFText = %q, want %q", got, c.want)
			}
		})
	}
	// Deep nesting and a long text stay bounded.
	deep := strings.Repeat("{", 100000) + "x" + strings.Repeat("}", 100000)
	if got := RTFText([]byte(deep)); got != "x" {
		t.Errorf("deep nesting: %q", got)
	}
	if got := RTFText(bytes.Repeat([]byte("abc "), MaxRTFText)); len(got) > MaxRTFText {
		t.Errorf("%d bytes of text, bound %d", len(got), MaxRTFText)
	}
}

// A winmail.dat whose only body is compressed RTF (Outlook's "rich text" format) gives that
// body's text.
func TestDecodeRTFBody(t *testing.T) {
	rtf := `{\rtf1\ansi\ansicpg1253\deff0{\fonttbl{\f0 Arial;}}\pard EAN: 5204001000013\par Serial: \'d3\'ce-1\par}`
	s := tneftest.NewStream()
	s.Attr(1, attMsgProps, (&tneftest.Props{}).Variable(ptBinary, prRTFCompressed, tneftest.CompressRTF([]byte(rtf))).Bytes())
	m, err := Decode(s.Bytes())
	if err != nil || m.Body != "EAN: 5204001000013\nSerial: ΣΞ-1" {
		t.Fatalf("body %q, %v", m.Body, err)
	}
}

// Real files (testdata/README.md says where they come from): Outlook's winmail.dat with two
// attachments, a plain body and the same body as compressed RTF; and a damaged one whose end is
// not TNEF, read up to the damage.
func TestRealSamples(t *testing.T) {
	data, err := os.ReadFile("testdata/attachments.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range m.Attachments {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "zappa_av1.jpg,bookmark.htm" || !bytes.HasPrefix(m.Attachments[0].Data, []byte{0xff, 0xd8, 0xff}) ||
		len(m.Attachments[0].Data) != 2937 || !bytes.HasPrefix(m.Attachments[1].Data, []byte("<!DOCTYPE")) {
		t.Errorf("attachments %v", names)
	}
	// Its compressed RTF says what its plain body says.
	i := bytes.Index(data, []byte("LZFu"))
	if i < 8 {
		t.Fatal("no compressed RTF in the sample")
	}
	raw, err := DecompressRTF(data[i-8:])
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.Fields(strings.ReplaceAll(m.Body, "\x00", ""))
	if got := strings.Fields(RTFText(raw)); strings.Join(got, " ") != strings.Join(plain, " ") || len(got) != 6 {
		t.Errorf("RTF text %q, plain body %q", got, plain)
	}

	data, err = os.ReadFile("testdata/panic.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err = Decode(data)
	if m == nil || err == nil || !strings.Contains(err.Error(), "claims") {
		t.Fatalf("damaged file: %v", err)
	}
	if len(m.Attachments) != 3 || m.Attachments[2].Name != "image003.png" || m.Attachments[2].MIMEType != "image/png" ||
		!strings.Contains(m.HTML, "<html>") {
		t.Errorf("damaged file read as %d attachments, html %d bytes", len(m.Attachments), len(m.HTML))
	}
}

func FuzzDecompressRTF(f *testing.F) {
	f.Add(specExample)
	f.Add(tneftest.CompressRTF([]byte(`{\rtf1 x}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _ := DecompressRTF(data)
		if len(out) > MaxRTFBytes {
			t.Fatalf("%d bytes", len(out))
		}
	})
}

func FuzzRTFText(f *testing.F) {
	f.Add([]byte(`{\rtf1\ansi\ansicpg1253 \'c1\u945?{\*\htmltag84 </p>}\htmlrtf x\htmlrtf0 y\par}`))
	f.Add([]byte(`{\rtf1{\fonttbl{\f0 A;}}\uc2\u-3913ab{{{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s := RTFText(data); len(s) > MaxRTFText+8 {
			t.Fatalf("%d bytes", len(s))
		}
	})
}
