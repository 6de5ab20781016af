package explain

import (
	"fmt"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// explain speaks English to the admin. Problems and notes read as the partner reads them (from
// the i18n catalog, in English); what happens to an item, why a mail is ignored and what a
// command does are explain's own sentences, since no partner reads them.

// decisionText is a row's message: what happens to the item, then each problem and note.
func decisionText(d rma.Decision) string { return strings.Join(decisionLines(d), " ") }

func decisionLines(d rma.Decision) []string {
	var lines []string
	switch d.Result {
	case rma.ResultAccepted:
		lines = append(lines, acceptedText(d))
	case rma.ResultRedirected:
		msg := "Redirected: the manufacturer handles this brand's RMAs itself; no RMA number."
		if d.Route.Portal != "" {
			msg = fmt.Sprintf("Redirected: the manufacturer handles this brand's RMAs itself at %s; no RMA number.", d.Route.Portal)
		}
		lines = append(lines, msg)
	case rma.ResultRejected:
		lines = append(lines, fmt.Sprintf("Rejected (%s):", plural(len(d.Problems), "problem")))
	}
	for _, p := range d.Problems {
		lines = append(lines, problemText(p))
	}
	for _, n := range d.Notes {
		lines = append(lines, noteText(n))
	}
	return lines
}

func acceptedText(d rma.Decision) string {
	switch d.Route.Handling {
	case rma.HandlingForward:
		to := "the manufacturer"
		if d.Route.ForwardTo != "" {
			to += " (" + d.Route.ForwardTo + ")"
		}
		return "Accepted: gets an RMA number and the claim is forwarded to " + to + "."
	case rma.HandlingVendorTicket:
		return "Accepted with the manufacturer's ticket: gets an RMA number; the partner ships to the service centre."
	default:
		return "Accepted: gets an RMA number; the partner ships to the service centre."
	}
}

// problemText is a problem as the partner reads it, in English: the field, what is wrong, what
// to fix (the i18n catalog words it once per language).
func problemText(p rma.Problem) string { return i18n.Describe(i18n.Fallback, p) }

// noteText is a warning as the partner reads it, in English.
func noteText(n rma.Note) string {
	l := i18n.Lang(i18n.Fallback)
	return l.T("reply.item.note", "text", l.DescribeNote(n))
}

// whyText explains why a mail is ignored or its sender unknown.
func whyText(why string, cfg *config.Config) string {
	switch why {
	case ingest.WhyAutoSubmitted:
		return "an automatic mail (Auto-Submitted header, e.g. an out-of-office reply)"
	case ingest.WhyPrecedence:
		return "bulk or list mail (Precedence header)"
	case ingest.WhyListID:
		return "mailing-list mail (List-Id header)"
	case ingest.WhyEmptySender:
		return "no sender address (empty From or Return-Path <>)"
	case ingest.WhyMailerDaemon:
		return "from MAILER-DAEMON or postmaster (a bounce)"
	case ingest.WhyAutoReply:
		return "a vacation reply (X-Apple-Action: VACATION or X-Auto-Response-Suppress set by the sender's autoresponder)"
	case ingest.WhyAutoSubject:
		return "an automatic reply by its subject (\"Automatic reply:\", \"Out of office\", in English, Greek, Romanian or French)"
	case ingest.WhyBounce:
		return "a bounce (X-Failed-Recipients, an Amazon SNS/SES notification, or a delivery-failure subject)"
	case ingest.WhyNoReplySender:
		return "from a no-reply address (no-reply@, noreply@, do-not-reply@): nobody reads an answer"
	case ingest.WhyMultipartReport:
		return "a delivery, read or abuse (ARF) report (multipart/report)"
	case ingest.WhyOwnAddress:
		return "sent from rmad's own address (smtp.from or a mailbox user): a loop"
	case ingest.WhyDMARCFail:
		return fmt.Sprintf("security.require_dmarc_pass is on and the Authentication-Results header of %q does not show dmarc=pass", cfg.Security.AuthservID)
	case ingest.WhyNotRegistered:
		return "no partner lists this address, or its domain, in the partners file"
	}
	return why
}

func commandText(c *rma.Command) string {
	if c == nil {
		return ""
	}
	switch c.Name {
	case rma.CommandStatus:
		if c.Query == "" {
			return "STATUS with no query: the answer explains how to ask (it needs the store, not shown here)."
		}
		return fmt.Sprintf("STATUS %q: the answer lists the partner's RMAs matching it by RMA number, serial or own number (it needs the store, not shown here).", c.Query)
	case rma.CommandWarranty:
		msg := fmt.Sprintf("WARRANTY for EAN %q", c.EAN)
		if c.Serial != "" {
			msg += fmt.Sprintf(", serial %q", c.Serial)
		}
		return msg + ": the answer says until when it is covered, from the partner's latest purchase in the sales records."
	}
	return c.Name
}

// warrantyText is the answer to a WARRANTY command, as the daemon would give it.
func warrantyText(a rules.WarrantyAnswer) string {
	switch a.Reason {
	case rules.WarrantyReasonEANInvalid:
		if a.Problem != nil {
			return problemText(*a.Problem)
		}
		return "the EAN is not valid."
	case rules.WarrantyReasonEANUnknown:
		return "the EAN is not in the catalog."
	case rules.WarrantyReasonNoPurchase:
		return "the sales records show no purchase of this product by the partner."
	}
	msg := fmt.Sprintf("%s %s covered until %s (%s)", a.Product.Brand, a.Product.Model, a.Warranty.Until.Format("2006-01-02"), a.Warranty.Status)
	if a.Sale != nil {
		how := "latest purchase"
		if a.BySerial {
			how = "purchase of this serial"
		}
		msg += fmt.Sprintf(", from the %s on %s, invoice %s", how, a.Sale.InvoiceDate.Format("2006-01-02"), a.Sale.Invoice)
	}
	for _, n := range a.Notes {
		msg += "; " + strings.TrimSuffix(noteText(n), ".")
	}
	return msg + "."
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
