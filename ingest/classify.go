package ingest

import (
	"strconv"
	"strings"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// classify decides the kind of a mail (docs/contract.md §1.3, §1.4): automatic mail is ignored; then,
// with require_dmarc_pass, mail without a trusted dmarc=pass is from an unknown sender; so is
// mail from an address no partner has; a partner's mail is a command or a submission.
func (p *Parser) classify(sub *rma.Submission, h mail.Header) {
	if why := automaticReason(h, sub.From, sub.Subject, p.OwnAddresses); why != "" {
		sub.Kind, sub.Why = rma.KindIgnored, why
		sub.Locale = guessLocale(h, sub)
		return
	}
	if p.Security.RequireDMARCPass && !dmarcPass(h, p.Security.AuthservID) {
		sub.Kind, sub.Why = rma.KindUnknownSender, WhyDMARCFail
		sub.Locale = guessLocale(h, sub)
		return
	}
	var partner rma.Partner
	found := false
	if p.Partners != nil {
		partner, found = p.Partners.BySender(sub.From)
	}
	if !found {
		sub.Kind, sub.Why = rma.KindUnknownSender, WhyNotRegistered
		sub.Locale = guessLocale(h, sub)
		return
	}
	sub.PartnerID = partner.ID
	sub.Locale = i18n.Fallback
	if l := strings.ToLower(partner.Locale); i18n.Known(l) {
		sub.Locale = l
	}
	if cmd, ok := ParseCommand(sub.Subject); ok {
		sub.Kind, sub.Command = rma.KindCommand, cmd
		return
	}
	sub.Kind = rma.KindSubmission
}

// fill sets the items and the whole-submission problems.
func (p *Parser) fill(sub *rma.Submission, c *content, exceeded bool) {
	sub.HasProof = c.hasProof
	sub.CSVDelimiter = c.csvDelim
	maxItems := p.maxItems()
	if exceeded {
		// The mail was not read to its end: neither items nor attachments can be trusted.
		sub.Items = nil
		sub.Problems = []rma.Problem{rma.NewProblem(rma.CodeTooLarge, "",
			"reason", "message_size", "limit", strconv.FormatInt(p.maxBytes(), 10))}
		return
	}
	if sub.Kind != rma.KindSubmission {
		return
	}
	sub.FollowUp = followUp(sub, c)
	items := c.body
	switch {
	case c.rowLimitFile != "":
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeTooLarge, "",
			"reason", "rows", "limit", strconv.Itoa(p.maxCSVRows()), "file", c.rowLimitFile))
	case len(items)+len(c.csv) > maxItems || c.tooManyItems:
		// Nothing of an oversized submission is kept: the reply says to split it.
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeTooLarge, "",
			"reason", "items", "limit", strconv.Itoa(maxItems)))
	default:
		sub.Items = joinItems(items, c.csv)
	}
	sub.Problems = append(sub.Problems, c.csvProblems...)
	if len(sub.Items) == 0 && len(c.csvProblems) == 0 && c.spreadsheet != "" && !hasCode(sub.Problems, rma.CodeTooLarge) {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeCSVInvalid, "",
			"reason", CSVReasonOldSpreadsheet, "file", c.spreadsheet))
	}
	// Nothing found and nothing else wrong: first say how to write items, then ask for the proof.
	if len(sub.Items) == 0 && len(sub.Problems) == 0 {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeNoItems, ""))
	}
	if !sub.HasProof {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeProofMissing, ""))
	}
}

// joinItems puts body items before CSV rows and numbers them (docs/contract.md §3: line is the position in
// the submission). The CSV's slice is reused when there are no body items.
func joinItems(body, csv []rma.Item) []rma.Item {
	all := csv
	if len(body) > 0 {
		all = make([]rma.Item, 0, len(body)+len(csv))
		all = append(append(all, body...), csv...)
	}
	for i := range all {
		all[i].Line = i + 1
	}
	if len(all) == 0 {
		return nil
	}
	return all
}

func hasCode(ps []rma.Problem, code rma.Code) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

// localeByTLD guesses the language of a sender nobody registered from its domain.
var localeByTLD = map[string]string{"gr": "el", "cy": "el", "ro": "ro", "md": "ro", "fr": "fr", "mc": "fr"}

// guessLocale picks the language to answer a sender who is not a partner in: the mail's
// Content-Language, the country of its domain, Greek letters in the subject; else English.
func guessLocale(h mail.Header, sub *rma.Submission) string {
	if l := strings.ToLower(headerToken(strings.ReplaceAll(h.Get("Content-Language"), ",", " "))); l != "" {
		if base, _, _ := strings.Cut(l, "-"); i18n.Known(base) {
			return base
		}
	}
	if i := strings.LastIndexByte(sub.From, '.'); i >= 0 {
		if l, ok := localeByTLD[sub.From[i+1:]]; ok {
			return l
		}
	}
	for _, r := range sub.Subject {
		if isGreekLetter(r) {
			return "el"
		}
	}
	return i18n.Fallback
}
