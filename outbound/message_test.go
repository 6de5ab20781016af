package outbound

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

// A mail's buffer is sized from its draft (sizeHint): a hint under the size makes a big reply
// grow by doubling and be copied again, one far over it is memory held for nothing.
func TestSizeHintCoversTheMail(t *testing.T) {
	pdf := bytes.Repeat([]byte{0x25, 0x00, 0xff, 0x7f}, 20000)
	bodies := map[string]string{
		"en":   strings.Repeat("Accepted: RMA/12/SR/2026 = TP-Link Archer AX55, serial 22384Q1002345, in house\n", 3000),
		"el":   strings.Repeat("Αποδεκτό: RMA/12/SR/2026 — TP-Link Archer AX55, σειριακός αριθμός 22384Q1002345\n", 3000),
		"ro":   strings.Repeat("Acceptat: RMA/12/SR/2026 (Xiaomi Mi Router 4A, Strada Științei 3, București)\n", 3000),
		"long": strings.Repeat("x", 200000) + "\n",
	}
	for name, body := range bodies {
		d := draft{body: body, files: []file{
			{name: ResultsFilename, contentType: "text/csv", data: []byte(strings.Repeat("RMA/12/SR/2026;accepted;ok\r\n", 4000))},
			{name: "rma-labels-1.pdf", contentType: "application/pdf", size: len(pdf), write: func(w io.Writer) error {
				_, err := w.Write(pdf)
				return err
			}},
		}}
		for _, files := range [][]file{nil, d.files} {
			d := d
			d.files = files
			var h mail.Header
			h.SetSubject("Re: RMA batch")
			h.SetAddressList("From", []*mail.Address{{Address: "rma@distributor.example"}})
			var buf bytes.Buffer
			if _, err := writeMIME(&buf, h, d); err != nil {
				t.Fatal(err)
			}
			if hint := d.sizeHint(); hint < buf.Len() || hint > buf.Len()*9/8 {
				t.Errorf("%s with %d files: size hint %d for a mail of %d bytes", name, len(files), hint, buf.Len())
			}
		}
	}
}
