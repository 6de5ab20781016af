package tnef

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/rmad/rmad/ingest/tnef/tneftest"
)

var pdf = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

// sample is a winmail.dat with a body, a PDF with a long name, and a CSV with only a title.
func sample() []byte {
	s := tneftest.NewStream()
	s.Attr(1, 0x00089006, []byte{0, 0, 1, 0}) // attTnefVersion
	s.Attr(1, attOemCodepage, []byte{0xe4, 0x04, 0, 0, 0, 0, 0, 0})
	s.Attr(1, attBody, []byte("EAN: 5204001000013\r\nSerial: RT-1\r\n\x00"))
	msg := (&tneftest.Props{}).Named(0x8001, "Keywords").Long(0x0e07, 1).Unicode(prBodyHTML, "<p>EAN: 5204001000013</p>")
	s.Attr(1, attMsgProps, msg.Bytes())
	s.Attr(2, attAttachRendData, make([]byte, 14))
	s.Attr(2, attAttachTitle, []byte("INVOIC~1.PDF\x00"))
	s.Attr(2, attAttachData, pdf)
	s.Attr(2, attAttachment, (&tneftest.Props{}).Long(0x0e20, uint32(len(pdf))).Unicode(prAttachLong, "Τιμολόγιο invoice.pdf").Unicode(prAttachMIMETag, "application/pdf").Bytes())
	s.Attr(2, attAttachRendData, make([]byte, 14))
	s.Attr(2, attAttachTitle, []byte("rma.csv\x00"))
	s.Attr(2, attAttachData, []byte("ean;serial\n5204001000013;RT-1\n"))
	return s.Bytes()
}

func TestDecode(t *testing.T) {
	m, err := Decode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != "EAN: 5204001000013\r\nSerial: RT-1\r\n" {
		t.Errorf("body %q", m.Body)
	}
	if m.HTML != "<p>EAN: 5204001000013</p>" {
		t.Errorf("html %q", m.HTML)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("%d attachments: %+v", len(m.Attachments), m.Attachments)
	}
	a := m.Attachments[0]
	if a.Name != "Τιμολόγιο invoice.pdf" || a.MIMEType != "application/pdf" || !bytes.Equal(a.Data, pdf) {
		t.Errorf("first attachment %q %q %q", a.Name, a.MIMEType, a.Data)
	}
	if b := m.Attachments[1]; b.Name != "rma.csv" || string(b.Data) != "ean;serial\n5204001000013;RT-1\n" {
		t.Errorf("second attachment %q %q", b.Name, b.Data)
	}
}

// Every prefix of a stream and every corrupted length decodes without a panic, to an error or
// to what was read before the cut.
func TestDecodeTruncated(t *testing.T) {
	full := sample()
	for n := range len(full) {
		m, err := Decode(full[:n])
		if err == nil && n < len(full) && m != nil && len(m.Attachments) == 2 && m.Attachments[1].Data != nil {
			t.Errorf("prefix %d of %d decoded whole", n, len(full))
		}
	}
	for i := 6; i+4 <= len(full); i++ {
		bad := bytes.Clone(full)
		binary.LittleEndian.PutUint32(bad[i:], 0xfffffff0)
		_, _ = Decode(bad)
	}
	if _, err := Decode([]byte("PK\x03\x04")); err != ErrNotTNEF {
		t.Errorf("a zip: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample())
	f.Add(tneftest.NewStream().Attr(2, attAttachment, (&tneftest.Props{}).Named(0x8000, "x").Bytes()).Bytes())
	f.Add(tneftest.NewStream().Attr(1, attMsgProps, (&tneftest.Props{}).Variable(ptBinary, prRTFCompressed,
		tneftest.CompressRTF([]byte(`{\rtf1\ansi\ansicpg1253 \'c1 EAN\par}`))).Bytes()).Bytes())
	for _, name := range []string{"testdata/attachments.dat", "testdata/panic.dat"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
		if m != nil && len(m.Attachments) > MaxAttachments {
			t.Fatalf("%d attachments", len(m.Attachments))
		}
	})
}
