package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	_ "github.com/emersion/go-message/charset" // decode the partner's charsets (cp1250, iso-8859-7 ...)
	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/ingest/tnef"
	"github.com/rmad/rmad/rma"
)

// ErrNoOriginal is what an Originals function returns (wrapped) when the mail is not there
// any more; the page says so instead of failing.
var ErrNoOriginal = errors.New("the partner's original mail is not there")

// Originals fetches the raw mail an RMA came from (the daemon: from the mailbox's processed
// folder by Message-ID, see ingest/mailbox.Original).
type Originals func(ctx context.Context, src rma.Source) ([]byte, error)

// maxAttachments bounds the attachments listed (a mail of thousands of parts is not read on).
const maxAttachments = 100

type originalAttachment struct {
	Index       int
	Name        string
	ContentType string
	Size        int
	data        []byte
}

type originalMail struct {
	From, To, Subject string
	Date              time.Time
	Text              string // the partner's text; HTML only as text (tags dropped), never rendered
	FromHTML          bool
	Attachments       []originalAttachment
}

type originalData struct {
	Rec     rma.Record
	Mail    *originalMail
	Missing string // why there is no mail to show
}

// readOriginal reads a raw mail into what the page shows. Inline text/plain parts are the
// text; without any, the HTML parts as text (ingest.HTMLToText: no markup survives);
// everything else with a file name (or not text) is an attachment to download.
func readOriginal(raw []byte) (*originalMail, error) {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && r == nil {
		return nil, fmt.Errorf("the mail cannot be read: %w", err)
	}
	defer r.Close()
	m := &originalMail{}
	m.Subject, _ = r.Header.Subject()
	if m.Subject == "" {
		m.Subject = r.Header.Get("Subject")
	}
	m.Date, _ = r.Header.Date()
	if as, err := r.Header.AddressList("From"); err == nil && len(as) > 0 {
		m.From = as[0].String()
	} else {
		m.From = r.Header.Get("From")
	}
	m.To = r.Header.Get("To")
	var plain, html, alt []string // alt: a winmail.dat's body, the text when the mail has none
	for len(m.Attachments) < maxAttachments {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A broken part ends the walk; what was read is still shown.
			break
		}
		body, rerr := io.ReadAll(p.Body)
		if rerr != nil {
			break
		}
		var name, ctype string
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ctype, _, _ = h.ContentType()
			name = filenameOf(h.Get("Content-Type"))
			if name == "" && ctype == "text/plain" {
				plain = append(plain, string(body))
				continue
			}
			if name == "" && ctype == "text/html" {
				html = append(html, string(body))
				continue
			}
		case *mail.AttachmentHeader:
			ctype, _, _ = h.ContentType()
			name, _ = h.Filename()
		}
		if name == "" {
			name = "part-" + strconv.Itoa(len(m.Attachments)+1)
		}
		m.Attachments = append(m.Attachments, originalAttachment{Index: len(m.Attachments), Name: name, ContentType: ctype, Size: len(body), data: body})
		if ingest.IsTNEF(ctype, name) {
			alt = append(alt, m.addTNEF(name, body)...)
		}
	}
	if len(plain) > 0 {
		m.Text = strings.Join(plain, "\n")
	} else if len(html) > 0 {
		m.Text, m.FromHTML = ingest.HTMLToText(strings.Join(html, "\n")), true
	} else {
		m.Text = strings.Join(alt, "\n")
	}
	return m, nil
}

// addTNEF lists the files inside an Outlook winmail.dat (named "winmail.dat › invoice.pdf"),
// so staff can open the proof of purchase Outlook packed into it, and returns its body as text
// (the mail's text when Outlook sent it as rich text and the mail has no text part). A winmail.dat it cannot read stays
// one attachment.
func (m *originalMail) addTNEF(name string, data []byte) []string {
	t, _ := tnef.Decode(data)
	if t == nil {
		return nil
	}
	for _, a := range t.Attachments {
		if len(m.Attachments) >= maxAttachments {
			break
		}
		m.Attachments = append(m.Attachments, originalAttachment{Index: len(m.Attachments), Name: name + " › " + a.Name,
			ContentType: a.MIMEType, Size: len(a.Data), data: a.Data})
	}
	switch {
	case t.Body != "":
		return []string{t.Body}
	case t.HTML != "":
		return []string{ingest.HTMLToText(t.HTML)}
	}
	return nil
}

// filenameOf is the name= parameter of an inline part's Content-Type ("" without one).
func filenameOf(contentType string) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return params["name"]
}

// original reads the RMA's original mail: the mail, or the words saying why there is none.
func (c *Console) original(r *http.Request, v *view, rec rma.Record) (*originalMail, string, error) {
	if rec.Source.Channel != "mail" || rec.Source.MessageID == "" {
		return nil, c.wordIn(v.Locale, "orig.not_mail"), nil
	}
	if c.cfg.Originals == nil {
		return nil, c.wordIn(v.Locale, "orig.not_configured"), nil
	}
	raw, err := c.cfg.Originals(r.Context(), rec.Source)
	switch {
	case errors.Is(err, ErrNoOriginal):
		c.log.Warn().Err(err).Str("rma", rec.Number).Str("message_id", rec.Source.MessageID).Msg("original mail not found")
		return nil, fmt.Sprintf(c.wordIn(v.Locale, "orig.missing"), rec.Source.MessageID, rec.Source.Mailbox), nil
	case err != nil:
		return nil, "", err
	}
	m, err := readOriginal(raw)
	if err != nil {
		return nil, fmt.Sprintf(c.wordIn(v.Locale, "orig.unreadable"), err.Error()), nil
	}
	return m, "", nil
}

// originalPage serves GET /console/rmas/{year}/{n}/original: the partner's mail as text (its
// HTML is never rendered) and its attachments to download.
func (c *Console) originalPage(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	m, missing, err := c.original(r, v, rec)
	if err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("original mail")
		c.render(w, http.StatusServiceUnavailable, "error", v, "orig.unavailable")
		return
	}
	status := http.StatusOK
	if m == nil {
		status = http.StatusNotFound
	}
	c.audit(v, "original", rec.Number).Str("message_id", rec.Source.MessageID).Bool("found", m != nil).Msg("original mail viewed")
	v.Title = rec.Number
	v.Data = originalData{Rec: rec, Mail: m, Missing: missing}
	c.render(w, status, "original", v, "")
}

// originalFile serves GET /console/rmas/{year}/{n}/original/{i}: one attachment, always
// as a download (application/octet-stream, nosniff), so a partner's HTML or SVG never runs on
// the console's origin.
func (c *Console) originalFile(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	i, err := strconv.Atoi(r.PathValue("i"))
	m, missing, ferr := c.original(r, v, rec)
	switch {
	case ferr != nil:
		c.log.Error().Err(ferr).Str("rma", rec.Number).Msg("original mail")
		c.render(w, http.StatusServiceUnavailable, "error", v, "orig.unavailable")
		return
	case m == nil:
		v.Title = rec.Number
		v.Data = originalData{Rec: rec, Missing: missing}
		c.render(w, http.StatusNotFound, "original", v, "")
		return
	case err != nil || i < 0 || i >= len(m.Attachments):
		c.render(w, http.StatusNotFound, "error", v, "orig.no_attachment")
		return
	}
	a := m.Attachments[i]
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	w.Header().Set("Content-Length", strconv.Itoa(len(a.data)))
	_, _ = w.Write(a.data)
	c.audit(v, "original_attachment", rec.Number).Str("file", a.Name).Int("bytes", a.Size).Msg("attachment downloaded")
}
