package outbound

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

// labelsFiles are the parcel labels of a reply: one per item the partner sends to the service
// centre, in the partner's language, in PDFs of at most label.MaxPerPDF labels (none when no
// item goes there). One PDF is rendered now and memoised (the staff copy carries it too);
// several are rendered one at a time while the mail is written, straight into its attachment,
// so that only one of them is ever in memory.
func (c *Composer) labelsFiles(ds []rma.Decision, p rma.Partner, locale string) ([]file, error) {
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
	batches := label.Batches(ls, c.labelsPerPDF)
	names := label.Filenames(len(batches))
	if len(batches) == 1 {
		r, err := rendered.get(format, ls)
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		return []file{{name: names[0], contentType: "application/pdf", data: r.pdf, encoded: r.base64}}, nil
	}
	files := make([]file, len(batches))
	for i, b := range batches {
		files[i] = file{name: names[i], contentType: "application/pdf", size: label.SizeOf(len(b)), write: func(w io.Writer) error {
			if err := label.Render(w, format, b...); err != nil {
				return fmt.Errorf("outbound: %s: %w", names[i], err)
			}
			return nil
		}}
	}
	return files, nil
}

// labelsNames is how a mail names the PDFs of n labels: the one file, or the first … the last.
func (c *Composer) labelsNames(n int) string {
	per := c.labelsPerPDF
	if per <= 0 {
		per = label.MaxPerPDF
	}
	names := label.Filenames((n + per - 1) / per)
	if len(names) == 1 {
		return names[0]
	}
	return names[0] + " … " + names[len(names)-1]
}

// labelMemo keeps the last few renderings: the staff copy carries the labels of the reply
// composed just before it, and rendering them twice (and encoding them twice: base64 is as
// much work again as the rest of writing the mail) would double the cost of a submission.
// The memo is the package's, not a Composer's: composers are copied by value, and the key
// holds everything a label shows. It holds single PDFs only (at most label.MaxPerPDF labels).
var rendered labelMemo

type labelMemo struct {
	mu   sync.Mutex
	pdfs map[[sha256.Size]byte]renderedLabels
}

// renderedLabels is a labels PDF and its base64 as a mail carries it (appendBase64Lines).
type renderedLabels struct{ pdf, base64 []byte }

const labelMemoSize = 16 // a few per worker is plenty: the staff copy follows its reply

func (m *labelMemo) get(format label.Format, ls []label.Label) (renderedLabels, error) {
	b, err := json.Marshal(struct {
		F label.Format
		L []label.Label
	}{format, ls})
	if err != nil {
		return renderedLabels{}, err
	}
	key := sha256.Sum256(b)
	m.mu.Lock()
	r, ok := m.pdfs[key]
	m.mu.Unlock()
	if ok {
		return r, nil
	}
	pdf, err := label.PDF(format, ls...)
	if err != nil {
		return renderedLabels{}, err
	}
	r = renderedLabels{pdf: pdf, base64: appendBase64Lines(nil, pdf)}
	m.mu.Lock()
	if m.pdfs == nil || len(m.pdfs) >= labelMemoSize {
		m.pdfs = make(map[[sha256.Size]byte]renderedLabels, labelMemoSize)
	}
	m.pdfs[key] = r
	m.mu.Unlock()
	return r, nil
}
