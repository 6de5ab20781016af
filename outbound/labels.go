package outbound

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

// labelsFile is rma-labels.pdf, one parcel label per item the partner sends to the service
// centre, in the partner's language; none when no item goes there.
func (c *Composer) labelsFile(ds []rma.Decision, p rma.Partner, locale string) ([]file, error) {
	ls := label.ForReply(ds, p, c.Centers)
	if len(ls) == 0 {
		return nil, nil
	}
	for i := range ls {
		ls[i].Locale = locale
	}
	format := c.Labels
	if format == "" {
		format = label.DefaultFormat
	}
	pdf, err := rendered.get(format, ls)
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	return []file{{name: label.Filename, contentType: "application/pdf", data: pdf}}, nil
}

// labelMemo keeps the last few renderings: the staff copy carries the labels of the reply
// composed just before it, and rendering them twice would double the cost of a submission.
// The memo is the package's, not a Composer's: composers are copied by value, and the key holds
// everything a label shows.
var rendered labelMemo

type labelMemo struct {
	mu   sync.Mutex
	pdfs map[[sha256.Size]byte][]byte
}

const labelMemoSize = 16 // a few per worker is plenty: the staff copy follows its reply

func (m *labelMemo) get(format label.Format, ls []label.Label) ([]byte, error) {
	b, err := json.Marshal(struct {
		F label.Format
		L []label.Label
	}{format, ls})
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(b)
	m.mu.Lock()
	pdf, ok := m.pdfs[key]
	m.mu.Unlock()
	if ok {
		return pdf, nil
	}
	if pdf, err = label.PDF(format, ls...); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.pdfs == nil || len(m.pdfs) >= labelMemoSize {
		m.pdfs = make(map[[sha256.Size]byte][]byte, labelMemoSize)
	}
	m.pdfs[key] = pdf
	m.mu.Unlock()
	return pdf, nil
}
