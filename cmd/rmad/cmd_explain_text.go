package main

import (
	"fmt"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// The words of explain are English for the admin; partners read their own language in the
// replies outbound writes from the same codes and params.

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

// problemText explains a problem in plain English: the field, what is wrong, what to fix.
func problemText(p rma.Problem) string {
	v := p.Params
	val := func() string { return fmt.Sprintf("%q", v["value"]) }
	switch p.Code {
	case rma.CodeEANInvalid:
		switch v["reason"] {
		case "missing":
			return "ean: no EAN was given; add the product's 13-digit EAN."
		case "scientific_notation":
			msg := "ean: " + val() + " is a number a spreadsheet wrote in scientific notation, which has lost digits"
			if x := v["expanded"]; x != "" {
				msg += " (it now reads " + x + ")"
			}
			return msg + "; format the EAN column as text and send all 13 digits."
		case "length":
			msg := "ean: " + val() + " does not have 13 digits"
			if s := v["suggestion"]; s != "" {
				msg += "; a spreadsheet may have dropped a leading zero: " + s + " would be valid"
			}
			return msg + "."
		case "not_digits":
			return "ean: " + val() + " must be 13 digits and nothing else."
		case "check_digit":
			return "ean: " + val() + " has a wrong check digit (the last digit would be " + v["expected_check"] + "); look for a typo."
		}
		return "ean: " + val() + " is not a valid EAN-13."
	case rma.CodeEANUnknown:
		return "ean: " + val() + " is not in the catalog; check the EAN (catalog_file) or add the product."
	case rma.CodeSerialRequired:
		return "serial: " + v["brand"] + " products need the device's serial number; add it."
	case rma.CodeDateInvalid:
		switch v["reason"] {
		case "missing":
			return "purchase_date: missing; give the invoice date (" + v["formats"] + ")."
		case "calendar":
			return "purchase_date: " + val() + " is not a day of the calendar."
		}
		return "purchase_date: " + val() + " is not a date rmad reads; use " + v["formats"] + "."
	case rma.CodeDateInFuture:
		return "purchase_date: " + val() + " is after today (" + v["today"] + "); give the invoice date."
	case rma.CodeDescriptionMissing:
		return "description: describe the fault in at least " + v["min"] + " characters."
	case rma.CodeClaimTypeInvalid:
		return "claim_type: " + val() + " is not a claim type; use one of " + listText(v["allowed"]) + "."
	case rma.CodeClaimTypeNotAllowed:
		return "claim_type: " + v["value"] + " is only for " + listText(v["brands"]) + " products, and this is " + v["brand"] + "."
	case rma.CodeVendorTicketRequired:
		msg := "vendor_ticket: " + v["brand"] + " requires the manufacturer's support ticket that confirmed the fault"
		if v["helpdesk"] != "" {
			msg += "; open one at " + v["helpdesk"]
		}
		return msg + " and add its number."
	case rma.CodeFaultTypeRequired:
		return "fault_type: this product needs a fault type, one of " + listText(v["allowed"]) + "."
	case rma.CodeFaultTypeInvalid:
		return "fault_type: " + val() + " is not one of " + listText(v["allowed"]) + "."
	case rma.CodeQuantityInvalid:
		if v["reason"] == "not_bulk" {
			return "quantity: " + v["value"] + " units on one line are allowed only for bulk products; send one line per unit."
		}
		return "quantity: " + val() + " must be a whole number, 1 or more."
	case rma.CodeIBANRequired:
		return "iban: the " + v["claim_type"] + " claim type needs the IBAN to refund to."
	case rma.CodeIBANInvalid:
		switch v["reason"] {
		case "checksum":
			return "iban: " + val() + " fails the IBAN check (mod 97); look for a typo."
		case "length":
			return "iban: " + val() + " has the wrong length for " + v["country"] + " (" + v["expected_length"] + " characters)."
		case "country":
			return "iban: " + val() + " does not start with a known country code."
		}
		return "iban: " + val() + " is not a valid IBAN."
	case rma.CodeOutOfWarranty:
		return "purchase_date: the warranty ended on " + v["until"] + " (" + v["months"] + " months) and policy.out_of_warranty is reject."
	case rma.CodeProofMissing:
		return "The mail has no proof of purchase: attach the invoice or delivery note as a PDF or an image."
	case rma.CodeNoItems:
		return "No items found: write the form in the mail body (\"EAN: ...\" lines) or attach a CSV file."
	case rma.CodeTooLarge:
		if v["reason"] == "items" {
			return "More than " + v["limit"] + " items in one submission (limits.max_items_per_submission); split it into several mails."
		}
		return "The mail is larger than " + v["limit"] + " bytes (limits.max_message_bytes); it was not read to its end."
	case rma.CodeCSVInvalid:
		return csvProblemText(v)
	}
	if strings.HasSuffix(string(p.Code), "_required") && p.Field != "" {
		return p.Field + ": required for the " + v["claim_type"] + " claim type."
	}
	return fmt.Sprintf("%s: %s %v", p.Field, p.Code, v)
}

func csvProblemText(v map[string]string) string {
	file := "The CSV attachment"
	if v["file"] != "" {
		file = fmt.Sprintf("The attachment %q", v["file"])
	}
	switch v["reason"] {
	case ingest.CSVReasonEmpty:
		return file + " has no item rows."
	case ingest.CSVReasonSpreadsheet:
		return file + " is a spreadsheet workbook, not CSV: save it as CSV (UTF-8) and send that."
	case ingest.CSVReasonBinary:
		return file + " is not text: send a CSV file."
	case ingest.CSVReasonDamaged:
		return file + " is damaged (its transfer encoding cannot be decoded): send it again."
	}
	msg := file + " cannot be read as CSV"
	if v["line"] != "" {
		msg += " (line " + v["line"] + ")"
	}
	if v["detail"] != "" {
		msg += ": " + v["detail"]
	}
	return msg + "."
}

func noteText(n rma.Note) string {
	v := n.Params
	switch n.Key {
	case rma.NoteSerialNotInSales:
		return "Note: serial " + v["serial"] + " is not in the sales records."
	case rma.NoteDateDiffersFromSale:
		return "Note: the purchase date given (" + v["given"] + ") differs from the sales record (" + v["sales"] + ")."
	case rma.NoteDateFromSales:
		return "Note: no purchase date given; the sales record's " + v["date"] + " is used."
	case rma.NoteSerialOtherPartner:
		return "Note: serial " + v["serial"] + " was sold to another partner."
	case rma.NotePaidRepair:
		return "Note: out of warranty since " + v["until"] + ": paid repair, the partner gets an estimate for parts, labour and return shipping."
	case rma.NoteEANMismatchSales:
		return "Note: serial " + v["serial"] + " was sold as EAN " + v["ean"] + ", not this one."
	}
	return fmt.Sprintf("Note: %s %v", n.Key, v)
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

func listText(pipeJoined string) string { return strings.ReplaceAll(pipeJoined, "|", ", ") }
