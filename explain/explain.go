// Package explain says what rmad would decide for a mail, and why: the daemon's parser and
// rules on one message, without the store. `rmad explain` prints it; the staff console's
// explain page (an uploaded .eml) and its dead-letter page (a mail of the inbox that failed for
// good) show the same text.
package explain

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// File is one mail's object in rmad explain's --json output (docs/contract.md §9). The rest are additions for
// people: what rmad read (subject, from, whether a proof of purchase was found, every file it
// found and what it took it for), why a mail is ignored or its sender unknown (the signal that
// decided, and a sentence saying it), what fails the whole submission, and what a command asks.
type File struct {
	File        string              `json:"file"`
	MessageID   string              `json:"message_id"`
	Kind        rma.Kind            `json:"kind"`
	Partner     string              `json:"partner"`
	Rows        []Row               `json:"rows"`
	Subject     string              `json:"subject"`
	From        string              `json:"from"`
	Why         string              `json:"why,omitempty"`
	WhyText     string              `json:"why_text,omitempty"`
	Proof       bool                `json:"proof"`
	Attachments []ingest.Attachment `json:"attachments"`
	Problems    []Problem           `json:"problems,omitempty"`
	Command     *rma.Command        `json:"command,omitempty"`
}

type Row struct {
	Line     int      `json:"line"`
	Result   string   `json:"result"`
	Codes    []string `json:"codes"`
	Handling string   `json:"handling"`
	Warranty string   `json:"warranty"`
	Message  string   `json:"message"`
}

type Problem struct {
	Code    rma.Code `json:"code"`
	Message string   `json:"message"`
}

// Explainer runs the daemon's parser and rules on a mail, without Redis, IMAP or SMTP.
type Explainer struct {
	Config *config.Config
	Engine *rules.Engine
	Parser *ingest.Parser
	Now    func() time.Time // "today" for warranty and dates; nil: time.Now
}

// New is an Explainer with a parser and rules engine of its own on cfg and data (the CLI's);
// the daemon builds one on its own engine and parser, so a reload is seen.
func New(cfg *config.Config, data *rules.Data) *Explainer {
	return &Explainer{
		Config: cfg,
		Engine: rules.NewEngine(cfg, data),
		Parser: &ingest.Parser{Partners: data.Partners, Limits: cfg.Limits, Security: cfg.Security, OwnAddresses: ingest.OwnAddresses(cfg)},
	}
}

// Result is one mail's outcome: the JSON object (File) and what the text needs.
type Result struct {
	File
	sub       rma.Submission
	decisions []rma.Decision
	now       time.Time
}

// Items is how many items the rules decided on.
func (r *Result) Items() int { return len(r.decisions) }

// Explain reads one mail from r (name is the file's name, as shown) and decides on it as the
// daemon would. The error is the mail's: unreadable, too big, not MIME.
func (ex *Explainer) Explain(name string, r io.Reader) (*Result, error) {
	now := time.Now()
	if ex.Now != nil {
		now = ex.Now()
	}
	sub, atts, err := ex.Parser.Inspect(r)
	if err != nil {
		return nil, err
	}
	if atts == nil {
		atts = []ingest.Attachment{}
	}
	res := &Result{sub: sub, now: now, File: File{File: name, MessageID: sub.Source.MessageID, Kind: sub.Kind, Partner: sub.PartnerID,
		Rows: []Row{}, Subject: sub.Subject, From: sub.From, Why: sub.Why, Proof: sub.HasProof,
		Attachments: atts, Command: sub.Command}}
	if sub.Why != "" {
		res.WhyText = whyText(sub.Why, ex.Config)
	}
	for _, p := range sub.Problems {
		res.Problems = append(res.Problems, Problem{Code: p.Code, Message: problemText(p)})
	}
	if sub.Kind != rma.KindSubmission {
		return res, nil
	}
	res.decisions = ex.Engine.Evaluate(sub, now)
	for _, d := range res.decisions {
		codes := make([]string, 0, len(d.Problems))
		for _, c := range d.Codes() {
			codes = append(codes, string(c))
		}
		slices.Sort(codes)
		codes = slices.Compact(codes)
		res.Rows = append(res.Rows, Row{Line: d.Line, Result: string(d.Result), Codes: codes,
			Handling: string(d.Route.Handling), Warranty: string(d.Warranty.Status), Message: decisionText(d)})
	}
	return res, nil
}

// WriteText prints one mail's outcome for a person (rmad explain's output, the console's view).
func (ex *Explainer) WriteText(w io.Writer, res *Result) {
	sub, decisions := res.sub, res.decisions
	fmt.Fprintf(w, "%s\n", res.File.File)
	fmt.Fprintf(w, "  message-id: %s\n", res.MessageID)
	from := sub.From
	if sub.FromName != "" {
		from = fmt.Sprintf("%s <%s>", sub.FromName, sub.From)
	}
	fmt.Fprintf(w, "  from:       %s\n  subject:    %q\n", from, sub.Subject)
	if sub.PartnerID != "" {
		name := ""
		if p, ok := ex.Engine.Data().Partners.ByID(sub.PartnerID); ok {
			name = " (" + p.Name + ")"
		}
		fmt.Fprintf(w, "  partner:    %s%s, replies in %q\n", sub.PartnerID, name, sub.Locale)
	}
	switch sub.Kind {
	case rma.KindIgnored:
		fmt.Fprintf(w, "  kind:       ignored (%s): %s\n", sub.Why, whyText(sub.Why, ex.Config))
		fmt.Fprintln(w, "              rmad never answers automatic mail; it goes to the rejected mailbox.")
	case rma.KindUnknownSender:
		fmt.Fprintf(w, "  kind:       unknown sender (%s): %s\n", sub.Why, whyText(sub.Why, ex.Config))
		if ex.Config.Security.ReplyToUnknown() {
			fmt.Fprintf(w, "              They get the registration hint in %q (at most once per address per 24 h); the mail goes to the rejected mailbox.\n", sub.Locale)
		} else {
			fmt.Fprintln(w, "              security.unknown_sender_reply is off: no answer; the mail goes to the rejected mailbox.")
		}
	case rma.KindCommand:
		fmt.Fprintf(w, "  kind:       command %s\n", commandText(sub.Command))
		if c := sub.Command; c != nil && c.Name == rma.CommandWarranty {
			fmt.Fprintf(w, "              answer: %s\n", warrantyText(ex.Engine.Warranty(sub.PartnerID, c.EAN, c.Serial, res.now)))
		}
	default:
		fmt.Fprintf(w, "  kind:       submission, %s, %s", plural(len(sub.Items), "item"), map[bool]string{true: "proof of purchase attached", false: "no proof of purchase"}[sub.HasProof])
		if sub.CSVDelimiter != 0 {
			fmt.Fprintf(w, ", CSV delimiter %q", sub.CSVDelimiter)
		}
		fmt.Fprintln(w)
	}
	writeAttachments(w, res.Attachments)
	for _, p := range res.Problems {
		fmt.Fprintf(w, "  whole submission: %s: %s\n", p.Code, p.Message)
	}
	for i, d := range decisions {
		row := res.Rows[i]
		head := fmt.Sprintf("  line %d: %s", d.Line, d.Result)
		if d.Route.Handling != "" {
			head += ", " + string(d.Route.Handling)
		}
		head += ", warranty " + string(d.Warranty.Status)
		if !d.Warranty.Until.IsZero() {
			word := " until "
			if d.Warranty.Status == rma.WarrantyExpired {
				word = " since "
			}
			head += word + d.Warranty.Until.Format("2006-01-02")
		}
		if len(row.Codes) > 0 {
			head += " [" + strings.Join(row.Codes, " ") + "]"
		}
		fmt.Fprintln(w, head)
		fmt.Fprintf(w, "    item: %s\n", itemText(d))
		for _, l := range decisionLines(d) {
			fmt.Fprintf(w, "    - %s\n", l)
		}
	}
}

// itemText is a short description of what the partner sent for an item.
func itemText(d rma.Decision) string {
	parts := []string{fmt.Sprintf("EAN %q", d.Item.EAN)}
	if d.Product != nil {
		parts[0] += fmt.Sprintf(" (%s %s)", d.Product.Brand, d.Product.Model)
	}
	for _, f := range []struct{ label, v string }{
		{"serial", d.Item.Serial}, {"purchase date", d.Item.PurchaseDate}, {"own number", d.Item.OwnNumber},
		{"claim type", d.Item.ClaimType}, {"fault type", d.Item.FaultType}, {"quantity", d.Item.Quantity},
	} {
		if f.v != "" {
			parts = append(parts, fmt.Sprintf("%s %q", f.label, f.v))
		}
	}
	return strings.Join(parts, ", ")
}

// writeAttachments lists the files rmad found, so "why was my PDF not seen?" has its answer.
func writeAttachments(w io.Writer, atts []ingest.Attachment) {
	if len(atts) == 0 {
		fmt.Fprintln(w, "  files:      none")
		return
	}
	fmt.Fprintln(w, "  files:")
	for _, a := range atts {
		name := a.Filename
		if name == "" {
			name = "(no name)"
		}
		line := fmt.Sprintf("    %s (%s, %s): %s", name, a.ContentType, byteCount(a.Size), roleText(a.Role))
		if a.Inside != "" {
			line += ", inside " + a.Inside
		}
		if a.Note != "" {
			line += " — " + a.Note
		}
		fmt.Fprintln(w, line)
	}
}

func roleText(role string) string {
	switch role {
	case ingest.RoleProof:
		return "proof of purchase"
	case ingest.RoleItems:
		return "items (CSV/XLSX)"
	case ingest.RoleDecorative:
		return "decorative, not a proof"
	case ingest.RoleUnreadable:
		return "unreadable"
	}
	return "other, not used"
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
