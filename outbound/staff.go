package outbound

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// Mail for staff and manufacturers is English, one template file each with a "subject" and a
// "body" block.
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

// templates holds one set per file: the files share block names, so one set would let the
// last file's "subject" replace the others'.
var templates, templateErr = loadTemplates()

func loadTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	out := make(map[string]*template.Template, len(names))
	var errs []error
	for _, n := range names {
		t, err := template.New(path.Base(n)).Option("missingkey=error").ParseFS(templateFiles, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[path.Base(n)] = t
	}
	return out, errors.Join(errs...)
}

// render executes one template file's subject and body blocks.
func render(name string, data any) (subject, text string, err error) {
	if templateErr != nil {
		return "", "", fmt.Errorf("outbound: templates: %w", templateErr)
	}
	t := templates[name]
	if t == nil {
		return "", "", fmt.Errorf("outbound: template %s missing", name)
	}
	var s, b strings.Builder
	if err := t.ExecuteTemplate(&s, "subject", data); err != nil {
		return "", "", fmt.Errorf("outbound: template %s subject: %w", name, err)
	}
	if err := t.ExecuteTemplate(&b, "body", data); err != nil {
		return "", "", fmt.Errorf("outbound: template %s body: %w", name, err)
	}
	return oneLine(s.String()), b.String(), nil
}

// staffView is what templates/staff.tmpl reads.
type staffView struct {
	Partner                         rma.Partner
	From, Subject, Received, Source string
	Items                           []itemView
	// LabelsLeftOut is how many labels the partner's reply carries in LabelFiles that this
	// copy does not (0: it carries them too).
	LabelsLeftOut int
	LabelFiles    string
}

// forwardView is what templates/forward.tmpl reads.
type forwardView struct {
	Brand, Distributor, File, Staff string
	Items                           []itemView
}

// itemView is one item as staff and manufacturers read it.
type itemView struct {
	Line                                         int
	Number, Handling, Product, EAN, Serial       string
	Purchase, Warranty, WarrantyUntil, ClaimType string
	FaultType, Quantity, Description             string
	Expectation, Contents, Tracking              string
	VendorTicket, IBAN, ReceiverPays, OwnNumber  string
	Notes                                        []string
}

func viewOf(d rma.Decision, i int) itemView {
	v := itemView{
		Line:          lineOf(d, i),
		Number:        d.Number,
		Handling:      string(d.Route.Handling),
		Product:       productName(d),
		EAN:           d.Item.EAN,
		Serial:        d.Item.Serial,
		Purchase:      day(d.Purchase),
		WarrantyUntil: day(d.Warranty.Until),
		ClaimType:     claimType(d),
		FaultType:     d.Item.FaultType,
		Description:   oneLine(d.Item.Description),
		Expectation:   oneLine(d.Item.Expectation),
		Contents:      oneLine(d.Item.Contents),
		Tracking:      d.Item.Tracking,
		VendorTicket:  d.Item.VendorTicket,
		OwnNumber:     d.Item.OwnNumber,
	}
	if v.Purchase == "" {
		v.Purchase = d.Item.PurchaseDate
	}
	if v.ClaimType == "" {
		v.ClaimType = "defective"
	}
	v.Warranty = string(d.Warranty.Status)
	if v.Warranty == "" {
		v.Warranty = string(rma.WarrantyUnknown)
	}
	if v.WarrantyUntil != "" {
		v.Warranty += " until " + v.WarrantyUntil
	}
	if d.Quantity > 1 {
		v.Quantity = strconv.Itoa(d.Quantity)
	}
	if v.ClaimType == "fast_refund" {
		v.IBAN = d.Item.IBAN
	}
	if receiverPays(d.Item.ReceiverPays) {
		v.ReceiverPays = d.Item.ReceiverPays
	}
	for _, n := range d.Notes {
		v.Notes = append(v.Notes, i18n.Lang(i18n.Fallback).DescribeNote(n))
	}
	return v
}

// StaffCopy tells notify.staff of the new RMAs of a submission that come to the service centre
// (in_house and vendor_ticket). It reports false when there are none, or no staff address.
func (c *Composer) StaffCopy(sub rma.Submission, p rma.Partner, ds []rma.Decision, now time.Time) (Message, bool, error) {
	if strings.TrimSpace(c.StaffAddr) == "" {
		return Message{}, false, nil
	}
	var items []itemView
	for i, d := range ds {
		if d.Result == rma.ResultAccepted && shipsToUs(d) && d.Number != "" {
			items = append(items, viewOf(d, i))
		}
	}
	if len(items) == 0 {
		return Message{}, false, nil
	}
	staff, err := c.staffList()
	if err != nil {
		return Message{}, false, err
	}
	received := receivedAt(sub, now)
	// The same labels as the partner's, so staff can print them for a partner who cannot. More
	// than one PDF of them (label.MaxPerPDF) is a print job for the console or `rmad label`, not
	// for a mail client: the staff copy then says where they are rather than carrying them
	// again beside the partner's reply.
	labels, err := c.labelsFiles(ds, p, string(i18n.For(p.Locale, sub.Locale)))
	if err != nil {
		return Message{}, false, err
	}
	view := staffView{
		Partner:  p,
		From:     sub.From,
		Subject:  oneLine(sub.Subject),
		Received: c.stamp(received),
		Source:   sourceText(sub.Source),
		Items:    items,
	}
	if len(labels) > 1 {
		view.LabelsLeftOut, view.LabelFiles = len(items), c.labelsNames(len(items))
		labels = nil
	}
	subject, text, err := render("staff.tmpl", view)
	if err != nil {
		return Message{}, false, err
	}
	d := draft{
		kind:    "staff",
		seed:    sourceKey(sub),
		to:      staff,
		subject: subject,
		locale:  i18n.Fallback,
		auto:    autoGenerated,
		body:    text,
		files: append([]file{{name: ResultsFilename, contentType: "text/csv",
			data: ResultsCSV(ds, i18n.Fallback, ',')}}, labels...),
	}
	// Staff answer the partner straight from their mail client.
	if a, err := mail.ParseAddress(sub.From); err == nil {
		d.replyTo = []*mail.Address{a}
	}
	// In the partner mail's thread, with its reference token: a staff answer and what the
	// partner answers to it reference or quote the partner's mail, so the staff copy needs no
	// thread entry of its own.
	if sub.Source.MessageID != "" {
		d.inReplyTo, d.references = threading(sub)
		d.ref = rma.RefToken(sub.Source.MessageID)
	}
	m, err := c.build(d, now)
	return m, err == nil, err
}

// Forward sends each forward_to address the claims of its items (docs/contract.md §5 forward): one mail per
// address, English, with the claims as CSV. Replies from the manufacturer go to staff.
func (c *Composer) Forward(sub rma.Submission, p rma.Partner, ds []rma.Decision, now time.Time) ([]Message, error) {
	groups := map[string][]rma.Decision{}
	lines := map[string][]int{}
	for i, d := range ds {
		to := strings.TrimSpace(d.Route.ForwardTo)
		if d.Result != rma.ResultAccepted || d.Route.Handling != rma.HandlingForward || d.Number == "" {
			continue
		}
		if to == "" {
			return nil, fmt.Errorf("outbound: %s is routed forward but has no forward_to address", d.Number)
		}
		groups[to] = append(groups[to], d)
		lines[to] = append(lines[to], i)
	}
	addrs := make([]string, 0, len(groups))
	for a := range groups {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs) // a stable order keeps the outbox order stable across retries

	var out []Message
	for _, addr := range addrs {
		to, err := mail.ParseAddressList(addr)
		if err != nil {
			return nil, fmt.Errorf("outbound: forward_to %q: %w", addr, err)
		}
		var items []itemView
		var rows [][]string
		brand := ""
		for k, d := range groups[addr] {
			v := viewOf(d, lines[addr][k])
			items = append(items, v)
			if brand == "" {
				brand = brandOf(d)
			}
			model := ""
			if d.Product != nil {
				model = d.Product.Model
			}
			qty := strconv.Itoa(max(d.Quantity, 1))
			rows = append(rows, []string{v.Number, brandOf(d), model, v.EAN, v.Serial, v.Purchase,
				v.WarrantyUntil, v.ClaimType, v.FaultType, qty, v.Description})
		}
		subject, text, err := render("forward.tmpl", forwardView{
			Brand:       brand,
			Distributor: c.fromName(),
			Items:       items,
			File:        ClaimsFilename,
			Staff:       c.StaffAddr,
		})
		if err != nil {
			return nil, err
		}
		d := draft{
			kind:    "fwd",
			seed:    sourceKey(sub) + "\x00" + strings.ToLower(addr),
			to:      to,
			subject: subject,
			locale:  i18n.Fallback,
			auto:    autoGenerated,
			body:    text,
			files:   []file{{name: ClaimsFilename, contentType: "text/csv", data: writeCSV(ClaimsHeader, rows, ',')}},
		}
		if staff, err := mail.ParseAddressList(c.StaffAddr); err == nil && len(staff) > 0 {
			d.replyTo = staff
		}
		m, err := c.build(d, now)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// sourceText says where a submission came from, for staff looking for the original.
func sourceText(s rma.Source) string {
	var parts []string
	if s.Channel != "" {
		parts = append(parts, s.Channel)
	}
	if s.Mailbox != "" {
		parts = append(parts, "mailbox "+s.Mailbox)
	}
	if s.MessageID != "" {
		parts = append(parts, "Message-ID <"+s.MessageID+">")
	}
	if s.WebhookID != "" {
		parts = append(parts, "webhook "+s.WebhookID)
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

// staffList is notify.staff as addresses, for the mails staff get.
func (c *Composer) staffList() ([]*mail.Address, error) {
	staff, err := mail.ParseAddressList(c.StaffAddr)
	if err != nil {
		return nil, fmt.Errorf("outbound: notify.staff %q: %w", c.StaffAddr, err)
	}
	return staff, nil
}

// receivedAt is when the partner's mail came: its Date, else now.
func receivedAt(sub rma.Submission, now time.Time) time.Time {
	if sub.Date.IsZero() {
		return now
	}
	return sub.Date
}
