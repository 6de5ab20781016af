package outbound

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// keptDicts holds the kept-mail dictionaries made so far, by language and configuration
// (dictKey): each is made once per process.
var keptDicts sync.Map // dictKey → *store.MailDictionary (nil: none could be made)

// mailDictionary is the preset dictionary the store deflates c's kept mails in locale with
// (store.MailDictionary): c's own mails in that language, written with the templates from
// sample RMAs — a status answer, a follow-up answer, a reply with an item of every kind, and
// last, as the most typical, a reply of one in-house item. nil for a language rmad has no
// words for, or when a sample cannot be written (the copy is then deflated without one).
func (c *Composer) mailDictionary(locale string) *store.MailDictionary {
	if !i18n.Known(locale) {
		return nil
	}
	key := c.dictKey(locale)
	if d, ok := keptDicts.Load(key); ok {
		return d.(*store.MailDictionary)
	}
	d, err := c.newMailDictionary(locale)
	if err != nil {
		d = nil
	}
	actual, _ := keptDicts.LoadOrStore(key, d)
	return actual.(*store.MailDictionary)
}

// dictKey is what a sample mail of c in locale depends on.
func (c *Composer) dictKey(locale string) string {
	return fmt.Sprintf("%s\x00%q\x00%v\x00%v\x00%q\x00%s\x00%s\x00%d",
		locale, c.From, c.Centers, c.Policy, c.StaffAddr, c.loc(), c.Labels, c.labelsPerPDF)
}

func (c *Composer) newMailDictionary(locale string) (*store.MailDictionary, error) {
	at := time.Date(2026, 1, 12, 9, 30, 0, 0, time.UTC) // any fixed time: the same samples each start
	p := rma.Partner{ID: "sample", Name: "Sample", Locale: locale, Emails: []string{"service@partner.example"}}
	sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: p.ID, From: p.Emails[0], Subject: "RMA", Date: at,
		Locale: locale, Source: rma.Source{Channel: "mail", MessageID: "sample@partner.example"}}
	item := func(line int, serial string) rma.Item {
		return rma.Item{Line: line, EAN: "5901234123457", Serial: serial, PurchaseDate: "2025-11-10",
			Description: "does not power on"}
	}
	accepted := func(line int, number string, route rma.Route) rma.Decision {
		return rma.Decision{Line: line, Item: item(line, fmt.Sprintf("SN%08d", line)), Result: rma.ResultAccepted,
			Number: number, Route: route, Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: at.AddDate(2, 0, 0)},
			Product:   &rma.Product{EAN: "5901234123457", Brand: "TP-Link", Model: "Archer AX55", WarrantyMonths: 24},
			ClaimType: "defective", Quantity: 1}
	}
	one := accepted(1, "RMA/1/SR/2026", rma.Route{Handling: rma.HandlingInHouse})
	mixed := []rma.Decision{
		one,
		accepted(2, "RMA/2/SR/2026", rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@vendor.example"}),
		{Line: 3, Item: item(3, "SN3"), Result: rma.ResultRedirected, Route: rma.Route{Handling: rma.HandlingVendorDirect,
			Portal: "https://rma.vendor.example"}, Product: one.Product, ClaimType: "defective", Quantity: 1},
		{Line: 4, Item: item(4, "SN00000001"), Result: rma.ResultDuplicate, Number: "RMA/1/SR/2026", Route: one.Route,
			Product: one.Product, ClaimType: "defective", Quantity: 1},
		{Line: 5, Item: item(5, ""), Result: rma.ResultRejected, Product: one.Product, ClaimType: "defective", Quantity: 1,
			Problems: []rma.Problem{{Code: rma.CodeSerialRequired, Field: "serial"}}},
	}
	rec := rma.Record{Number: one.Number, PartnerID: p.ID, Decision: one, Status: rma.StatusAwaitingGoods,
		CreatedAt: at, UpdatedAt: at, History: []rma.Event{{At: at, Status: rma.StatusAwaitingGoods, Actor: "rmad"}}}
	var mails []Message
	status, err := c.StatusAnswer(sub, p, one.Number, []rma.Record{rec}, at)
	if err != nil {
		return nil, err
	}
	followup, err := c.FollowUpAnswer(sub, p, []string{one.Number}, FollowUpNews{Acknowledge: true}, at)
	if err != nil {
		return nil, err
	}
	mails = append(mails, status, followup)
	for _, ds := range [][]rma.Decision{mixed, {one}} {
		sub.Items = sub.Items[:0]
		for _, d := range ds {
			sub.Items = append(sub.Items, d.Item)
		}
		reply, err := c.Reply(sub, p, ds, at)
		if err != nil {
			return nil, err
		}
		mails = append(mails, reply)
	}
	samples := make([]store.KeptMail, 0, len(mails))
	for _, m := range mails {
		k, err := c.keep(m)
		if err != nil {
			return nil, err
		}
		k.Numbers = []string{one.Number}
		k.Raw = fixBoundary(k.Raw)
		samples = append(samples, k)
	}
	return store.NewMailDictionary(samples)
}

// fixBoundary replaces a sample's random MIME boundary by one of the same length, so that
// the same templates and configuration make the same dictionary at every start.
func fixBoundary(raw []byte) []byte {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return raw
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if b := params["boundary"]; err == nil && b != "" {
		return bytes.ReplaceAll(raw, []byte(b), bytes.Repeat([]byte("b"), len(b)))
	}
	return raw
}
