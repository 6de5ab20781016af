package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every declared charset, in bodies and headers
	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// ChannelMail is the Source.Channel of mail submissions.
const ChannelMail = "mail"

// PartnerFinder finds the registered partner of a sender address, by address and then by domain.
// *rules.Partners satisfies it.
type PartnerFinder interface {
	BySender(addr string) (rma.Partner, bool)
}

// Parser turns raw mail into submissions. Its fields are read-only while ParseMail runs, so one
// Parser serves many goroutines.
type Parser struct {
	Partners PartnerFinder
	Limits   config.Limits
	Security config.Security
	// OwnAddresses are our SMTP From and the mailbox user names: mail from them is our own
	// come back, and is ignored (loop protection). "Name <addr>" or bare addresses.
	OwnAddresses []string
}

// ParseMail reads one raw mail (RFC 5322) into a submission. It reads at most
// limits.max_message_bytes (+1 to tell that a mail is larger): a larger mail gives a submission
// whose Problems hold too_large and whose headers are still read, so it can be answered. The
// error is non-nil only when not even the header can be read, or when reading r failed (a mail
// read in part must not be answered: the caller retries).
func (p *Parser) ParseMail(r io.Reader) (rma.Submission, error) {
	sub, _, err := p.Inspect(r)
	return sub, err
}

// Inspect is ParseMail that also lists every file rmad found in the mail, where it was found
// and what it took it for (rmad explain shows it).
func (p *Parser) Inspect(r io.Reader) (rma.Submission, []Attachment, error) {
	sum := sha256.New()
	capped := &capReader{r: r, max: p.maxBytes()}
	raw := io.TeeReader(capped, sum)
	br := bufio.NewReader(raw)

	sub := rma.Submission{Source: rma.Source{Channel: ChannelMail}}
	th, err := readMailHeader(br)
	if err != nil {
		_, _ = io.Copy(io.Discard, raw)
		return sub, nil, err
	}
	h := mail.Header{Header: message.Header{Header: th}}
	readHeader(&sub, h)

	st := &walkState{capped: capped, decoded: sha256.New()}
	c := newContent()
	p.walkEntity(c, message.Header{Header: th}, br, st, 0, "")
	c.finish(p.maxItems())
	// Hash the whole mail as read (up to the limit), not only the parts the parser looked at.
	_, _ = io.Copy(io.Discard, raw)
	if capped.err != nil {
		return sub, nil, fmt.Errorf("ingest: reading mail: %w", capped.err)
	}
	sub.Source.RawSHA256 = hex.EncodeToString(sum.Sum(nil))
	sub.Source.ContentSHA256 = hex.EncodeToString(st.decoded.Sum(nil))
	if sub.Source.MessageID == "" {
		sub.Source.MessageID = syntheticMessageID(sub.Source.RawSHA256)
	}

	p.classify(&sub, h)
	p.fill(&sub, c, capped.exceeded)
	return sub, c.atts, nil
}

// OwnAddresses lists a configuration's own addresses for Parser.OwnAddresses: the SMTP From
// and user name and every mailbox user name (those that are addresses).
func OwnAddresses(cfg *config.Config) []string {
	own := []string{cfg.SMTP.From, cfg.SMTP.Username}
	for _, m := range cfg.IMAP {
		own = append(own, m.Username)
	}
	return slices.DeleteFunc(own, func(s string) bool { return !strings.Contains(s, "@") })
}

func (p *Parser) maxBytes() int64 {
	if p.Limits.MaxMessageBytes > 0 {
		return p.Limits.MaxMessageBytes
	}
	return config.DefaultMaxMessageBytes
}

func (p *Parser) maxItems() int {
	if p.Limits.MaxItemsPerSubmission > 0 {
		return p.Limits.MaxItemsPerSubmission
	}
	return config.DefaultMaxItems
}

// syntheticMessageID stands in for a missing Message-ID: stable for the same bytes, so a mail
// fetched twice is recognised as the same.
func syntheticMessageID(rawSHA256 string) string {
	return "sha256-" + rawSHA256[:32] + "@rmad.invalid"
}

// readHeader fills the fields that come from the top-level header.
func readHeader(sub *rma.Submission, h mail.Header) {
	sub.From, sub.FromName = fromAddress(h)
	sub.Subject = strings.TrimSpace(decodeWords(h.Get("Subject")))
	if d, err := h.Date(); err == nil {
		sub.Date = d
	}
	if id, err := h.MessageID(); err == nil {
		sub.Source.MessageID = id
	} else if v := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"); v != "" && !strings.ContainsAny(v, " \t<>") {
		// Not RFC 5322 (no "@", say), but still the sender's identifier of this mail.
		sub.Source.MessageID = v
	}
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		sub.InReplyTo = ids[0]
	}
	sub.References, _ = h.MsgIDList("References")
}

// toUTF8 decodes raw 8-bit header text that no encoded word described.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	t, _ := decodeText([]byte(s))
	return t
}

// addCSV reads one CSV attachment's rows and says what the file was to rmad.
func (p *Parser) addCSV(c *content, info partInfo, data []byte) string {
	left := p.maxItems() - len(c.csv)
	if left <= 0 {
		c.tooManyItems = true
		return RoleItems
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) && info.kind == partCSV {
		// A workbook named .csv: read it as what it is, or say to save it as CSV.
		var ce *CSVError
		if _, err := readXLSXTable(data, left, p.maxCSVRows()); errors.As(err, &ce) &&
			(ce.Reason == CSVReasonDamagedXLSX || ce.Reason == CSVReasonOldSpreadsheet) {
			c.csvProblems = append(c.csvProblems, csvProblem(info.filename, &CSVError{Reason: CSVReasonSpreadsheet}))
			return RoleUnreadable
		}
		_, role := p.addXLSX(c, info, bytes.NewReader(data))
		return role
	}
	t, err := readCSVTable(data, left, p.maxCSVRows())
	if info.kind == partMaybeTable && (err != nil || !t.header) {
		return RoleOther // a .txt that is not an item table is just a text file
	}
	switch {
	case errors.Is(err, errRowLimit):
		c.rowLimitFile = info.filename
		return RoleItems
	case errors.Is(err, ErrTooManyRows):
		c.tooManyItems = true
		return RoleItems
	case err != nil:
		c.csvProblems = append(c.csvProblems, csvProblem(info.filename, err))
		return RoleUnreadable
	}
	c.addTable(t.items, t.delim)
	return RoleItems
}

// addTable adds the rows of one CSV or XLSX file.
func (c *content) addTable(items []rma.Item, delim rune) {
	if c.csvDelim == 0 {
		c.csvDelim = delim
	}
	if c.csv == nil {
		c.csv = items // no copy of a large file's items
	} else {
		c.csv = append(c.csv, items...)
	}
}

// csvProblem is the csv_invalid problem of an unreadable attachment.
func csvProblem(filename string, err error) rma.Problem {
	reason, line := CSVReasonSyntax, 0
	var ce *CSVError
	if errors.As(err, &ce) {
		reason, line = ce.Reason, ce.Line
	}
	params := []string{"reason", reason, "detail", err.Error()}
	if filename != "" {
		params = append(params, "file", filename)
	}
	if line > 0 {
		params = append(params, "line", strconv.Itoa(line))
	}
	return rma.NewProblem(rma.CodeCSVInvalid, "", params...)
}
