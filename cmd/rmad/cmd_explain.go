package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// explainJSON is explain's --json flag (set anew by each flag set).
var explainJSON bool

// explainNow is explain's "today"; tests fix it.
var explainNow = time.Now

func init() {
	register(&command{
		name:  "explain",
		args:  "[--json] MAIL.eml...",
		short: "show what rmad would decide for mail files, and why (parse + rules; no Redis, IMAP or SMTP)",
		run:   runExplain,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&explainJSON, "json", false, "print one JSON array, one object per file, for tools")
		},
	})
}

// explainedFile is one file's object in --json output (docs/contract.md §9). The rest are additions for
// people: what rmad read (subject, from, whether a proof of purchase was found, every file it
// found and what it took it for), why a mail is ignored or its sender unknown (the signal that
// decided, and a sentence saying it), what fails the whole submission, and what a command asks.
type explainedFile struct {
	File        string              `json:"file"`
	MessageID   string              `json:"message_id"`
	Kind        rma.Kind            `json:"kind"`
	Partner     string              `json:"partner"`
	Rows        []explainedRow      `json:"rows"`
	Subject     string              `json:"subject"`
	From        string              `json:"from"`
	Why         string              `json:"why,omitempty"`
	WhyText     string              `json:"why_text,omitempty"`
	Proof       bool                `json:"proof"`
	Attachments []ingest.Attachment `json:"attachments"`
	Problems    []explainedProblem  `json:"problems,omitempty"`
	Command     *rma.Command        `json:"command,omitempty"`
}

type explainedRow struct {
	Line     int      `json:"line"`
	Result   string   `json:"result"`
	Codes    []string `json:"codes"`
	Handling string   `json:"handling"`
	Warranty string   `json:"warranty"`
	Message  string   `json:"message"`
}

type explainedProblem struct {
	Code    rma.Code `json:"code"`
	Message string   `json:"message"`
}

// unreadableFile is a file's object when it could not be read as mail.
type unreadableFile struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// runExplain parses each file and runs the rules on it with the configured data files, as the
// daemon would, and prints the outcome: exit 0, or 1 when a file could not be read (the others
// are still explained) or the configuration does not load.
func runExplain(env *cliEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, "rmad explain: name at least one mail file (rmad explain [--json] MAIL.eml...)")
		return 2
	}
	cfg, data, code := loadConfigAndData(env)
	if cfg == nil {
		return code
	}
	ex := &explainer{
		parser: &ingest.Parser{Partners: data.Partners, Limits: cfg.Limits, Security: cfg.Security, OwnAddresses: ingest.OwnAddresses(cfg)},
		engine: rules.NewEngine(cfg, data),
		data:   data,
		cfg:    cfg,
		now:    explainNow(),
	}
	var out []any
	code, items := 0, 0
	for i, file := range args {
		res, sub, decisions, err := ex.explain(file)
		if err != nil {
			code = 1
			out = append(out, unreadableFile{File: file, Error: err.Error()})
			if !explainJSON {
				fmt.Fprintf(env.stdout, "%s%s\n  error: %v\n", sepLine(i), file, err)
			}
			continue
		}
		out = append(out, res)
		items += len(decisions)
		if !explainJSON {
			fmt.Fprint(env.stdout, sepLine(i))
			ex.writeText(env.stdout, res, sub, decisions)
		}
	}
	if !explainJSON && items > 0 {
		fmt.Fprintln(env.stdout, "\n(explain does not see the store: an item already registered shows as accepted here, the daemon answers it as duplicate)")
	}
	if explainJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(env.stderr, "rmad explain: %v\n", err)
			return 1
		}
	}
	return code
}

func sepLine(i int) string {
	if i == 0 {
		return ""
	}
	return "\n"
}

type explainer struct {
	parser *ingest.Parser
	engine *rules.Engine
	data   *rules.Data
	cfg    *config.Config
	now    time.Time
}

func (ex *explainer) explain(file string) (explainedFile, rma.Submission, []rma.Decision, error) {
	f, err := os.Open(file)
	if err != nil {
		return explainedFile{}, rma.Submission{}, nil, err
	}
	defer f.Close()
	sub, atts, err := ex.parser.Inspect(f)
	if err != nil {
		return explainedFile{}, sub, nil, err
	}
	if atts == nil {
		atts = []ingest.Attachment{}
	}
	res := explainedFile{File: file, MessageID: sub.Source.MessageID, Kind: sub.Kind, Partner: sub.PartnerID,
		Rows: []explainedRow{}, Subject: sub.Subject, From: sub.From, Why: sub.Why, Proof: sub.HasProof,
		Attachments: atts, Command: sub.Command}
	if sub.Why != "" {
		res.WhyText = whyText(sub.Why, ex.cfg)
	}
	for _, p := range sub.Problems {
		res.Problems = append(res.Problems, explainedProblem{Code: p.Code, Message: problemText(p)})
	}
	if sub.Kind != rma.KindSubmission {
		return res, sub, nil, nil
	}
	decisions := ex.engine.Evaluate(sub, ex.now)
	for _, d := range decisions {
		codes := make([]string, 0, len(d.Problems))
		for _, c := range d.Codes() {
			codes = append(codes, string(c))
		}
		slices.Sort(codes)
		codes = slices.Compact(codes)
		res.Rows = append(res.Rows, explainedRow{Line: d.Line, Result: string(d.Result), Codes: codes,
			Handling: string(d.Route.Handling), Warranty: string(d.Warranty.Status), Message: decisionText(d)})
	}
	return res, sub, decisions, nil
}

// writeText prints one file's outcome for a person.
func (ex *explainer) writeText(w io.Writer, res explainedFile, sub rma.Submission, decisions []rma.Decision) {
	fmt.Fprintf(w, "%s\n", res.File)
	fmt.Fprintf(w, "  message-id: %s\n", res.MessageID)
	from := sub.From
	if sub.FromName != "" {
		from = fmt.Sprintf("%s <%s>", sub.FromName, sub.From)
	}
	fmt.Fprintf(w, "  from:       %s\n  subject:    %q\n", from, sub.Subject)
	if sub.PartnerID != "" {
		name := ""
		if p, ok := ex.data.Partners.ByID(sub.PartnerID); ok {
			name = " (" + p.Name + ")"
		}
		fmt.Fprintf(w, "  partner:    %s%s, replies in %q\n", sub.PartnerID, name, sub.Locale)
	}
	switch sub.Kind {
	case rma.KindIgnored:
		fmt.Fprintf(w, "  kind:       ignored (%s): %s\n", sub.Why, whyText(sub.Why, ex.cfg))
		fmt.Fprintln(w, "              rmad never answers automatic mail; it goes to the rejected mailbox.")
	case rma.KindUnknownSender:
		fmt.Fprintf(w, "  kind:       unknown sender (%s): %s\n", sub.Why, whyText(sub.Why, ex.cfg))
		if ex.cfg.Security.ReplyToUnknown() {
			fmt.Fprintf(w, "              They get the registration hint in %q (at most once per address per 24 h); the mail goes to the rejected mailbox.\n", sub.Locale)
		} else {
			fmt.Fprintln(w, "              security.unknown_sender_reply is off: no answer; the mail goes to the rejected mailbox.")
		}
	case rma.KindCommand:
		fmt.Fprintf(w, "  kind:       command %s\n", commandText(sub.Command))
		if c := sub.Command; c != nil && c.Name == rma.CommandWarranty {
			fmt.Fprintf(w, "              answer: %s\n", warrantyText(ex.engine.Warranty(sub.PartnerID, c.EAN, c.Serial, ex.now)))
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
