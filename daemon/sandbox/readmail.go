package sandbox

import (
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-message/mail"
)

// Read is a mail the sink received, read back for a test: the headers tests check, the text
// parts joined, the attachments by file name.
type Read struct {
	ID, Subject, Lang, Body string
	To                      []string // the envelope's recipients
	Refs                    []string // References
	Files                   map[string][]byte
}

// Read parses the mail.
func (m Mail) Read() (Read, error) {
	r, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		return Read{}, fmt.Errorf("sent mail unreadable: %w", err)
	}
	id, _ := r.Header.MessageID()
	subj, _ := r.Header.Subject()
	refs, _ := r.Header.MsgIDList("References")
	out := Read{ID: id, Subject: subj, Lang: r.Header.Get("Content-Language"), To: m.To, Refs: refs, Files: map[string][]byte{}}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return Read{}, fmt.Errorf("sent mail %s: part: %w", id, err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return Read{}, fmt.Errorf("sent mail %s: part: %w", id, err)
		}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			out.Body += string(b)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			out.Files[name] = b
		}
	}
}

// ReadAll reads every mail the sink received so far, in order.
func (s *SMTP) ReadAll() ([]Read, error) {
	var out []Read
	for _, m := range s.Mails() {
		r, err := m.Read()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
