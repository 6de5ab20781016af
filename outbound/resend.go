package outbound

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Resend is m sent again (staff's "re-send the last reply"): the same content, recipients,
// subject and threading headers, with a Message-ID of its own (derived from the original's and
// the resend's time, so the outbox's once-per-Message-ID marker lets it go, and a retry of the
// same resend is still sent once) and today's Date. The body, with its Ref line, is
// byte for byte the original's: the partner's answer to either mail finds the same thread.
func Resend(m Message, now time.Time) (Message, error) {
	br := bufio.NewReader(bytes.NewReader(m.Raw))
	th, err := textproto.ReadHeader(br)
	if err != nil {
		return Message{}, fmt.Errorf("outbound: resend %s: header: %w", m.ID, err)
	}
	local, domain, ok := strings.Cut(m.ID, "@")
	if !ok {
		return Message{}, fmt.Errorf("outbound: resend %s: not a Message-ID", m.ID)
	}
	id := messageID("resend", m.ID+"\x00"+now.UTC().Format(time.RFC3339Nano), domain)
	id = local + "." + strings.TrimSuffix(id, "@"+domain) + "@" + domain
	h := mail.Header{Header: message.Header{Header: th}}
	h.SetMessageID(id)
	h.SetDate(now)
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, h.Header.Header); err != nil {
		return Message{}, fmt.Errorf("outbound: resend %s: %w", m.ID, err)
	}
	if _, err := io.Copy(&buf, br); err != nil {
		return Message{}, fmt.Errorf("outbound: resend %s: %w", m.ID, err)
	}
	return Message{ID: id, From: m.From, To: append([]string(nil), m.To...), Raw: buf.Bytes()}, nil
}
