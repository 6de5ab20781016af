package ingest

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/rmad/rmad/rma"
)

// ClassifyHeader decides from a mail's header block alone what ParseMail would call it: kind,
// sender, partner, command. Sender classification (SPEC §1.4) needs nothing else, so the IMAP
// side can file a mail (processed or rejected) without parsing its body a first time.
func (p *Parser) ClassifyHeader(header []byte) (rma.Submission, error) {
	br := bufio.NewReader(bytes.NewReader(header))
	skipMboxFromLine(br)
	sub := rma.Submission{Source: rma.Source{Channel: ChannelMail}}
	th, err := textproto.ReadHeader(br)
	if err != nil && th.Len() == 0 {
		return sub, fmt.Errorf("ingest: reading mail header: %w", err)
	}
	h := mail.Header{Header: message.Header{Header: th}}
	readHeader(&sub, h)
	p.classify(&sub, h)
	return sub, nil
}
