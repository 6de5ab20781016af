package outbound

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/store"
)

// Keep is m, a partner mail about RMAs, as the store keeps it for staff to send again from the
// console (store.KeepMail): its kind (the first word of its Message-ID: reply, followup,
// status, estimate ...), subject and date, and the mail itself without the bytes of its
// parcel labels. rma-labels.pdf is most of a reply (about 40 KB, and base64 on top) and
// follows from the records, so it is rendered again (LabelsPDFs, Restore) when the mail is
// sent again. The store deflates it with a dictionary of sample mails in its language
// (mailDictionary).
func (c *Composer) Keep(m Message) (store.KeptMail, error) {
	k, err := c.keep(m)
	if err == nil {
		k.Dictionary = c.mailDictionary(k.Locale, k.Kind)
	}
	return k, err
}

// keep is Keep without the dictionary.
func (c *Composer) keep(m Message) (store.KeptMail, error) {
	if m.written == nil {
		return c.keepRead(m)
	}
	w := m.written
	// The Date header as a reader of the mail gets it (mail.Header.Date).
	date, _ := time.Parse(dateLayout, w.date)
	kind, _, _ := strings.Cut(m.ID, ".")
	raw, at := m.Raw, []int(nil)
	if len(w.labels) > 0 {
		n := len(m.Raw)
		for _, s := range w.labels {
			n -= s.to - s.from
		}
		raw = make([]byte, 0, max(n, 0))
		from := 0
		for _, s := range w.labels {
			if s.from < from || s.to < s.from || s.to > len(m.Raw) {
				return store.KeptMail{}, fmt.Errorf("outbound: keep %s: labels at %d–%d of %d bytes", m.ID, s.from, s.to, len(m.Raw))
			}
			raw = append(raw, m.Raw[from:s.from]...)
			at = append(at, len(raw))
			from = s.to
		}
		raw = append(raw, m.Raw[from:]...)
	}
	return store.KeptMail{ID: m.ID, Kind: kind, Subject: w.subject, Date: date, From: m.From, To: append([]string(nil), m.To...),
		Raw: raw, LabelsAt: at, Locale: w.locale, Retention: c.KeepFor}, nil
}

// dateLayout is how go-message writes a Date header (mail.Header.SetDate).
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// keepRead is keep for a mail build did not write in this process: what the copy says of it
// is read from its header, its labels found in its body.
func (c *Composer) keepRead(m Message) (store.KeptMail, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Raw)))
	if err != nil {
		return store.KeptMail{}, fmt.Errorf("outbound: keep %s: header: %w", m.ID, err)
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	subject, err := mh.Subject()
	if err != nil {
		subject = h.Get("Subject")
	}
	date, _ := mh.Date() // rmad's mails have one; without, the page shows none
	kind, _, _ := strings.Cut(m.ID, ".")
	raw, at, err := cutLabels(m.Raw)
	if err != nil {
		return store.KeptMail{}, fmt.Errorf("outbound: keep %s: %w", m.ID, err)
	}
	return store.KeptMail{ID: m.ID, Kind: kind, Subject: subject, Date: date, From: m.From, To: append([]string(nil), m.To...),
		Raw: raw, LabelsAt: at, Locale: h.Get("Content-Language"), Retention: c.KeepFor}, nil
}

// ErrLabelsGone is returned by Restore when a kept mail's parcel labels cannot be made again
// as they were sent (its RMAs no longer all go to the service centre).
var ErrLabelsGone = errors.New("the mail's parcel labels cannot be made again")

// Restore is kept as it was sent: its parcel labels, when it had some, are pdfs (rendered again
// from the records: LabelsPDFs), one for each PDF it had.
func Restore(kept store.KeptMail, pdfs [][]byte) (Message, error) {
	m := Message{ID: kept.ID, From: kept.From, To: append([]string(nil), kept.To...)}
	if len(pdfs) != len(kept.LabelsAt) {
		return Message{}, fmt.Errorf("outbound: restore %s: %d labels PDFs for %d: %w", kept.ID, len(pdfs), len(kept.LabelsAt), ErrLabelsGone)
	}
	raw := make([]byte, 0, len(kept.Raw)+len(pdfs)*64<<10)
	from := 0
	for i, at := range kept.LabelsAt {
		if at < from || at > len(kept.Raw) {
			return Message{}, fmt.Errorf("outbound: restore %s: labels at %d of %d bytes", kept.ID, at, len(kept.Raw))
		}
		raw = append(raw, kept.Raw[from:at]...)
		raw = appendBase64Lines(raw, pdfs[i])
		from = at
	}
	m.Raw = append(raw, kept.Raw[from:]...)
	return m, nil
}

// LabelsPDFs are the labels PDFs of a kept mail again (Restore): ls are the labels of its RMAs
// that get one (label.ForRecord), shown in the mail's language, in PDFs of at most
// label.MaxPerPDF as the mail had them; none when there are no labels.
func (c *Composer) LabelsPDFs(ls []label.Label, locale string) ([][]byte, error) {
	for i := range ls {
		if locale != "" {
			ls[i].Locale = locale
		}
	}
	format := c.Labels
	if format == "" {
		format = label.DefaultFormat
	}
	var out [][]byte
	for _, b := range label.Batches(ls, c.labelsPerPDF) {
		pdf, err := label.PDF(format, b...)
		if err != nil {
			return nil, fmt.Errorf("outbound: %w", err)
		}
		out = append(out, pdf)
	}
	return out, nil
}

// cutLabels returns raw without the base64 bodies of its labels PDFs and where each was (none
// and raw itself when it has none). Only rmad's own mails come here: a flat multipart/mixed as
// writeMIME writes it.
func cutLabels(raw []byte) ([]byte, []int, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return raw, nil, nil
	}
	delim := []byte("\r\n--" + params["boundary"])
	// The body starts after the header's blank line; a first delimiter right there has no
	// CRLF of its own before it.
	pos := bytes.Index(raw, []byte("\r\n\r\n"))
	if pos < 0 {
		return nil, nil, errors.New("header without its end")
	}
	pos += 4
	if !bytes.HasPrefix(raw[pos:], delim[2:]) {
		i := bytes.Index(raw[pos:], delim)
		if i < 0 {
			return nil, nil, errors.New("multipart body without its boundary")
		}
		pos += i + 2
	}
	var out []byte
	var at []int
	from := 0 // raw[from:] is not in out yet
	for {
		// pos is at "--boundary"; the part starts after that line.
		rest := raw[pos+len(delim)-2:]
		if bytes.HasPrefix(rest, []byte("--")) {
			break // the closing delimiter
		}
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 {
			return nil, nil, errors.New("multipart part without its header")
		}
		partAt := pos + len(delim) - 2 + eol + 2
		end := bytes.Index(raw[partAt:], delim)
		if end < 0 {
			return nil, nil, errors.New("multipart part without its closing boundary")
		}
		end += partAt
		ph, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw[partAt:end])))
		if err != nil {
			return nil, nil, fmt.Errorf("part header: %w", err)
		}
		if hdrEnd := bytes.Index(raw[partAt:end], []byte("\r\n\r\n")); isLabels(ph) && hdrEnd >= 0 {
			body := partAt + hdrEnd + 4
			out = append(out, raw[from:body]...)
			at = append(at, len(out))
			from = end
		}
		pos = end + 2
	}
	if len(at) == 0 {
		return raw, nil, nil
	}
	return append(out, raw[from:]...), at, nil
}

func isLabels(h textproto.Header) bool {
	if !strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		return false
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil {
		return false
	}
	return isLabelsName(params["filename"])
}

// isLabelsName reports whether a file of a mail is one of its labels PDFs (label.Filenames).
func isLabelsName(name string) bool {
	base := strings.TrimSuffix(label.Filename, ".pdf")
	return name == label.Filename || strings.HasPrefix(name, base+"-") && strings.HasSuffix(name, ".pdf")
}

// KeepSent keeps m, a partner mail about numbers, in st for staff to send again (Keep,
// store.KeepMail). Called before m goes on the outbox, so the newest mail is kept once it is out.
func (c *Composer) KeepSent(ctx context.Context, st *store.Store, partner string, numbers []string, m Message) error {
	if len(numbers) == 0 {
		return nil
	}
	k, err := c.Keep(m)
	if err != nil {
		return err
	}
	return st.KeepMail(ctx, partner, numbers, k)
}
