package outbound

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

// Composer writes every mail rmad sends. It holds only configuration, so one value may be used
// from many goroutines.
type Composer struct {
	From      string                // smtp.from: "Name <addr>"; its domain ends every Message-ID
	Centers   config.ServiceCenters // where partners ship in-house items, per country
	Policy    config.Policy         // fees and deadlines quoted in replies
	StaffAddr string                // notify.staff: gets new RMAs; named in hints and claims
	// Location is the time zone of times shown in mails (schedule.timezone); nil means UTC.
	// Calendar dates (purchase, warranty) are shown as they are, never shifted.
	Location *time.Location
	// Labels is the page format of rma-labels.pdf (labels.format); empty means label.DefaultFormat.
	Labels label.Format
	// labelsPerPDF bounds the labels of one PDF (0: label.MaxPerPDF); tests make it small.
	labelsPerPDF int
	// KeepFor is how long Keep has the store keep a partner mail (console.reply_retention); 0
	// means store.DefaultReplyRetention.
	KeepFor time.Duration
	// dictConf is sampleConf as NewComposer found it, for the kept mails' dictionaries; empty:
	// worked out for each copy. A field changed after NewComposer can only make copies deflate
	// less well: each names the dictionary it was deflated with.
	dictConf string
}

// NewComposer is the Composer that cfg describes: smtp.from, the service centres, the policy,
// notify.staff and schedule.timezone.
func NewComposer(cfg *config.Config) *Composer {
	c := &Composer{From: cfg.SMTP.From, Centers: cfg.ServiceCenters, Policy: cfg.Policy,
		StaffAddr: cfg.Notify.Staff, Location: cfg.Schedule.Location, Labels: label.Format(cfg.Labels.Format),
		KeepFor: cfg.Console.ReplyRetention}
	c.dictConf = c.sampleConf()
	return c
}

// Reply is the answer to a submission (docs/contract.md §3): threaded, in the partner's language, with a
// readable summary, what to do next per handling, and rma-results.csv.
func (c *Composer) Reply(sub rma.Submission, p rma.Partner, ds []rma.Decision, now time.Time) (Message, error) {
	return c.ReplyWithNews(sub, p, ds, FollowUpNews{}, now)
}

// ReplyWithNews is Reply to a follow-up that completed rejected items and also gave fields: one
// mail that says, below the count of results, what was recorded where (and which fields need
// their RMA or line named), as FollowUpAnswer would have in a second mail.
func (c *Composer) ReplyWithNews(sub rma.Submission, p rma.Partner, ds []rma.Decision, news FollowUpNews, now time.Time) (Message, error) {
	l := i18n.For(p.Locale, sub.Locale)
	to, err := recipient(sub, p)
	if err != nil {
		return Message{}, err
	}
	var b body
	b.line(l.T("greeting"))
	b.blank()
	received := sub.Date
	if received.IsZero() {
		received = now
	}
	b.line(l.T("reply.intro", "subject", oneLine(sub.Subject), "date", c.day(received)))
	if len(ds) > 0 {
		b.line(tally(l, ds))
	}
	if news.hasFields() {
		b.blank()
		writeNews(&b, l, news)
	}

	whole := map[rma.Code]bool{}
	if len(sub.Problems) > 0 {
		b.blank()
		b.line(l.T("reply.whole_failure"))
		for _, pr := range sub.Problems {
			whole[pr.Code] = true
			b.item("  - ", l.Describe(pr))
		}
	}
	if len(ds) == 0 {
		b.blank()
		if len(sub.Problems) == 0 {
			b.line(l.Describe(rma.NewProblem(rma.CodeNoItems, "")))
		}
		b.line(l.T("reply.no_rows"))
	}
	for i, d := range ds {
		b.blank()
		c.writeItem(&b, l, d, i, whole)
	}
	c.writeShipping(&b, l, p, ds)
	writeForwarded(&b, l, ds)
	writeDirect(&b, l, ds)
	for _, d := range ds {
		if d.Result == rma.ResultRejected && !onlyCodes(d.Problems, whole) {
			b.blank()
			b.line(l.T("reply.fix_resend"))
			break
		}
	}
	b.blank()
	if len(ds) > 0 {
		b.line(l.T("reply.csv_note", "file", ResultsFilename))
	}
	c.footer(&b, l)

	var numbers []string
	for _, d := range ds {
		if d.Number != "" && (d.Result == rma.ResultAccepted || d.Result == rma.ResultDuplicate) {
			numbers = append(numbers, d.Number)
		}
	}
	d := autoReply(sub, to, "reply", string(l), replySubject(sub.Subject, numbers), b.String())
	d.files = []file{{name: ResultsFilename, contentType: "text/csv", data: ResultsCSV(ds, string(l), sub.CSVDelimiter)}}
	labels, err := c.labelsFiles(ds, p, string(l))
	if err != nil {
		return Message{}, err
	}
	d.files = append(d.files, labels...)
	return c.build(d, now)
}

// tally is the one-line count of results: "Accepted: 2 · Rejected: 1".
func tally(l i18n.Lang, ds []rma.Decision) string {
	n := map[rma.Result]int{}
	for _, d := range ds {
		n[d.Result]++
	}
	var parts []string
	for _, r := range []rma.Result{rma.ResultAccepted, rma.ResultRedirected, rma.ResultDuplicate, rma.ResultRejected} {
		if n[r] > 0 {
			parts = append(parts, l.T("reply.tally."+string(r), "n", strconv.Itoa(n[r])))
		}
	}
	return strings.Join(parts, " · ")
}

// writeItem is one item's block: what it is, what became of it, and what it needs.
func (c *Composer) writeItem(b *body, l i18n.Lang, d rma.Decision, i int, whole map[rma.Code]bool) {
	const in = "  "
	b.line(l.T("reply.item.title", "line", strconv.Itoa(lineOf(d, i)), "product", productName(d)))
	var ids []string
	for _, f := range []string{"ean", "serial", "own_number"} {
		if v := strings.TrimSpace(d.Item.Get(f)); v != "" {
			ids = append(ids, l.Pair(l.Field(f), v))
		}
	}
	if len(ids) > 0 {
		b.item(in, strings.Join(ids, " · "))
	}

	switch d.Result {
	case rma.ResultAccepted:
		if d.Number != "" {
			b.item(in, l.T("reply.item.accepted", "number", d.Number))
		} else {
			b.item(in, l.T("reply.item.accepted_plain"))
		}
	case rma.ResultDuplicate:
		b.item(in, l.T("reply.item.duplicate", "number", d.Number))
	case rma.ResultRedirected:
		b.item(in, l.T("reply.item.redirected", "brand", brandOf(d)))
	case rma.ResultRejected:
		var own []rma.Problem
		for _, p := range d.Problems {
			if !whole[p.Code] {
				own = append(own, p)
			}
		}
		if len(own) == 0 {
			b.item(in, l.T("reply.item.rejected_whole"))
		} else {
			b.item(in, l.T("reply.item.rejected"))
			for _, p := range own {
				b.item(in+"- ", l.Describe(enrich(p, d)))
			}
		}
	}

	if d.Result == rma.ResultAccepted || d.Result == rma.ResultDuplicate {
		switch d.Warranty.Status {
		case rma.WarrantyIn, rma.WarrantyExpired:
			if !d.Warranty.Until.IsZero() {
				b.item(in, l.T("reply.item.warranty."+string(d.Warranty.Status), "until", day(d.Warranty.Until)))
			}
		}
	}
	if d.Result == rma.ResultAccepted && shipsToUs(d) {
		if v := strings.TrimSpace(d.Item.Contents); v != "" {
			b.item(in, l.T("reply.item.contents", "contents", v))
		}
		if v := strings.TrimSpace(d.Item.VendorTicket); v != "" {
			b.item(in, l.T("reply.item.ticket", "ticket", v))
		}
		switch claimType(d) {
		case "order_error":
			b.item(in, l.T("reply.item.claim.order_error", "percent", strconv.Itoa(c.Policy.RestockingFeePercent)))
		case "delivery_error":
			b.item(in, l.T("reply.item.claim.delivery_error"))
		case "fast_refund":
			b.item(in, l.T("reply.item.claim.fast_refund", "iban", strings.TrimSpace(d.Item.IBAN)))
		}
		if receiverPays(d.Item.ReceiverPays) {
			b.item(in, l.T("reply.item.receiver_pays"))
		}
	}
	paidRepairSaid := false
	for _, n := range d.Notes {
		paidRepairSaid = paidRepairSaid || n.Key == rma.NotePaidRepair
		b.item(in, l.T("reply.item.note", "text", l.DescribeNote(n)))
	}
	if d.Result == rma.ResultAccepted && d.Warranty.Status == rma.WarrantyExpired && !paidRepairSaid {
		b.item(in, l.T("reply.item.note", "text", l.DescribeNote(rma.Note{Key: rma.NotePaidRepair})))
	}
}

// writeShipping tells how to send in-house and vendor_ticket items to the service centre.
func (c *Composer) writeShipping(b *body, l i18n.Lang, p rma.Partner, ds []rma.Decision) {
	var numbers []string
	for _, d := range ds {
		if d.Result == rma.ResultAccepted && shipsToUs(d) && d.Number != "" {
			numbers = append(numbers, d.Number)
		}
	}
	if len(numbers) == 0 {
		return
	}
	b.blank()
	b.line(l.T("reply.ship.title", "numbers", strings.Join(numbers, ", ")))
	days := ""
	if c.Policy.CustomerDelayDays > 0 {
		days = strconv.Itoa(c.Policy.CustomerDelayDays)
	}
	steps := []string{
		l.T("reply.ship.number", "file", c.labelsNames(len(numbers))),
		l.T("reply.ship.accessories", "days", days),
	}
	if sc, ok := c.Centers.For(p.Country); ok {
		steps = append(steps, l.T("reply.ship.address", "name", sc.Name, "address", sc.Address))
	} else {
		steps = append(steps, l.T("reply.ship.address_unknown"))
	}
	steps = append(steps, l.T("reply.ship.terms"), l.T("reply.ship.check"))
	if fee := strings.TrimSpace(c.Policy.NoFaultFoundFee); fee != "" {
		steps = append(steps, l.T("reply.ship.nff", "fee", fee))
	}
	for i, s := range steps {
		b.item("  "+strconv.Itoa(i+1)+". ", s)
	}
}

// writeForwarded tells that claims went to the manufacturer and updates will follow.
func writeForwarded(b *body, l i18n.Lang, ds []rma.Decision) {
	var numbers, brands []string
	for _, d := range ds {
		if d.Result == rma.ResultAccepted && d.Route.Handling == rma.HandlingForward && d.Number != "" {
			numbers = append(numbers, d.Number)
			if br := brandOf(d); br != "" && !slices.Contains(brands, br) {
				brands = append(brands, br)
			}
		}
	}
	if len(numbers) == 0 {
		return
	}
	b.blank()
	b.line(l.T("reply.forward.title", "numbers", strings.Join(numbers, ", ")))
	b.item("  ", l.T("reply.forward.body", "brand", strings.Join(brands, ", ")))
}

// writeDirect gives, per manufacturer portal, the steps for vendor_direct items.
func writeDirect(b *body, l i18n.Lang, ds []rma.Decision) {
	type group struct {
		brand, portal string
		lines         []string
	}
	var groups []*group
	for i, d := range ds {
		if d.Route.Handling != rma.HandlingVendorDirect || d.Result == rma.ResultRejected {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.portal == d.Route.Portal && x.brand == brandOf(d) {
				g = x
			}
		}
		if g == nil {
			g = &group{brand: brandOf(d), portal: d.Route.Portal}
			groups = append(groups, g)
		}
		g.lines = append(g.lines, strconv.Itoa(lineOf(d, i)))
	}
	for _, g := range groups {
		b.blank()
		b.line(l.T("reply.direct.title", "brand", g.brand, "lines", strings.Join(g.lines, ", ")))
		b.item("  ", l.T("reply.direct.no_number", "brand", g.brand))
		steps := []string{l.T("reply.direct.portal", "portal", g.portal)}
		if g.portal == "" {
			steps = []string{l.T("reply.direct.no_portal", "brand", g.brand)}
		}
		steps = append(steps, l.T("reply.direct.request"), l.T("reply.direct.ship"))
		for i, s := range steps {
			b.item("  "+strconv.Itoa(i+1)+". ", s)
		}
	}
}

// footer closes every partner mail: how to ask later, who signs, that it is automatic.
func (c *Composer) footer(b *body, l i18n.Lang) {
	b.line(l.T("help.commands"))
	b.blank()
	c.signature(b, l)
}

func (c *Composer) signature(b *body, l i18n.Lang) {
	b.line(l.T("signoff", "from", c.fromName()))
	b.blank()
	b.b.WriteString("-- \n") // the signature separator keeps its space (RFC 3676)
	b.line(l.T("automatic"))
}

// day shows an instant as a date in the distributor's time zone.
func (c *Composer) day(t time.Time) string {
	return t.In(c.loc()).Format(time.DateOnly)
}

// stamp shows an instant as date and minute in the distributor's time zone.
func (c *Composer) stamp(t time.Time) string {
	return t.In(c.loc()).Format("2006-01-02 15:04")
}

func (c *Composer) loc() *time.Location {
	if c.Location != nil {
		return c.Location
	}
	return time.UTC
}

// day shows a calendar date (purchase, warranty end) as written: YYYY-MM-DD, no zone shift.
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// shipsToUs reports whether the partner sends the item to the distributor's service centre.
func shipsToUs(d rma.Decision) bool {
	return d.Route.Handling == rma.HandlingInHouse || d.Route.Handling == rma.HandlingVendorTicket
}

func claimType(d rma.Decision) string {
	if d.ClaimType != "" {
		return d.ClaimType
	}
	return strings.ToLower(strings.TrimSpace(d.Item.ClaimType))
}

func productName(d rma.Decision) string {
	if d.Product == nil {
		return ""
	}
	return strings.TrimSpace(d.Product.Brand + " " + d.Product.Model)
}

// receiverPays reads the form's yes/no in the four languages.
func receiverPays(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "y", "true", "1", "x", "ναι", "ναί", "nai", "da", "oui", "o":
		return true
	}
	return false
}

// onlyCodes reports whether every problem is one of the given codes (and there is at least one).
func onlyCodes(ps []rma.Problem, codes map[rma.Code]bool) bool {
	for _, p := range ps {
		if !codes[p.Code] {
			return false
		}
	}
	return len(ps) > 0
}

// body builds a plain-text mail body: lines, blank separators, indented multi-line items.
type body struct{ b strings.Builder }

func (b *body) line(s string) { b.item("", s) }

// item writes s with prefix on its first line and the prefix's width of spaces on the others.
func (b *body) item(prefix, s string) {
	pad := strings.Repeat(" ", len([]rune(prefix)))
	for i, ln := range strings.Split(s, "\n") {
		if i == 0 {
			b.b.WriteString(prefix)
		} else {
			b.b.WriteString(pad)
		}
		b.b.WriteString(strings.TrimRight(ln, " "))
		b.b.WriteByte('\n')
	}
}

// blank separates paragraphs; it never writes two blank lines in a row or one at the top.
func (b *body) blank() {
	s := b.b.String()
	if s == "" || strings.HasSuffix(s, "\n\n") {
		return
	}
	b.b.WriteByte('\n')
}

func (b *body) String() string { return b.b.String() }
