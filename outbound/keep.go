package outbound

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"strings"

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
// follows from the records, so Restore renders it again when the mail is sent again.
func (c *Composer) Keep(m Message) (store.KeptMail, error) {
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

// ErrLabelsGone is returned by Restore when a kept mail had parcel labels and none can be
// made again (the RMAs no longer go to the service centre).
var ErrLabelsGone = errors.New("the mail's parcel labels cannot be made again")

// Restore is kept as it was sent: its parcel labels, when it had some, are pdf (rendered again
// from the records: LabelsPDF).
func Restore(kept store.KeptMail, pdf []byte) (Message, error) {
	m := Message{ID: kept.ID, From: kept.From, To: append([]string(nil), kept.To...)}
	if kept.LabelsAt < 0 {
		m.Raw = append([]byte(nil), kept.Raw...)
		return m, nil
	}
	if len(pdf) == 0 {
		return Message{}, fmt.Errorf("outbound: restore %s: %w", kept.ID, ErrLabelsGone)
	}
	if kept.LabelsAt > len(kept.Raw) {
		return Message{}, fmt.Errorf("outbound: restore %s: labels at %d of %d bytes", kept.ID, kept.LabelsAt, len(kept.Raw))
	}
	b64 := wrap76(base64.StdEncoding.EncodeToString(pdf))
	raw := make([]byte, 0, len(kept.Raw)+len(b64))
	raw = append(raw, kept.Raw[:kept.LabelsAt]...)
	raw = append(raw, b64...)
	m.Raw = append(raw, kept.Raw[kept.LabelsAt:]...)
	return m, nil
}

// LabelsPDF is rma-labels.pdf again for a kept mail (Restore): ls are the labels of its RMAs
// that get one (label.ForRecord), shown in the mail's language; nil when there are none.
func (c *Composer) LabelsPDF(ls []label.Label, locale string) ([]byte, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	for i := range ls {
		if locale != "" {
			ls[i].Locale = locale
		}
	}
	format := c.Labels
	if format == "" {
		format = label.DefaultFormat
	}
	return rendered.get(format, ls)
}

// cutLabels returns raw without the base64 body of its rma-labels.pdf part and where that body
// was (-1 and raw itself when it has none). Only rmad's own mails come here: a flat
// multipart/mixed as writeMIME writes it.
func cutLabels(raw []byte) ([]byte, int, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, 0, fmt.Errorf("header: %w", err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return raw, -1, nil
	}
	delim := []byte("\r\n--" + params["boundary"])
	// The body starts after the header's blank line; a first delimiter right there has no
	// CRLF of its own before it.
	bodyAt := bytes.Index(raw, []byte("\r\n\r\n"))
	if bodyAt < 0 {
		return nil, 0, errors.New("header without its end")
	}
	bodyAt += 4
	body := raw[bodyAt:]
	if !bytes.HasPrefix(body, delim[2:]) {
		i := bytes.Index(body, delim)
		if i < 0 {
			return nil, 0, errors.New("multipart body without its boundary")
		}
		bodyAt += i + 2
	}
	pos := bodyAt
	for {
		// pos is at "--boundary"; the part starts after that line.
		rest := raw[pos+len(delim)-2:]
		if bytes.HasPrefix(rest, []byte("--")) {
			return raw, -1, nil // the closing delimiter: no labels
		}
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 {
			return nil, 0, errors.New("multipart part without its header")
		}
		partAt := pos + len(delim) - 2 + eol + 2
		end := bytes.Index(raw[partAt:], delim)
		if end < 0 {
			return nil, 0, errors.New("multipart part without its closing boundary")
		}
		end += partAt
		ph, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw[partAt:end])))
		if err != nil {
			return nil, 0, fmt.Errorf("part header: %w", err)
		}
		hdrEnd := bytes.Index(raw[partAt:end], []byte("\r\n\r\n"))
		if isLabels(ph) && hdrEnd >= 0 {
			at := partAt + hdrEnd + 4
			out := make([]byte, 0, len(raw)-(end-at))
			out = append(out, raw[:at]...)
			return append(out, raw[end:]...), at, nil
		}
		pos = end + 2
	}
}

func isLabels(h textproto.Header) bool {
	if !strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		return false
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	return err == nil && params["filename"] == label.Filename
}

// wrap76 breaks base64 text into lines of 76 characters joined by CRLF, as go-message writes an
// attachment (no line end after the last line: the boundary's CRLF follows).
func wrap76(s string) []byte {
	out := make([]byte, 0, len(s)+len(s)/76*2)
	for len(s) > 76 {
		out = append(out, s[:76]...)
		out = append(out, '\r', '\n')
		s = s[76:]
	}
	return append(out, s...)
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
