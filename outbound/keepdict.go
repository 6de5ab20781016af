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

// keptDicts holds the kept-mail dictionaries made so far, by language, kind of mail and
// configuration (dictKey): each is made once per process.
var keptDicts sync.Map // dictKey → *store.MailDictionary (nil: none could be made)

// mailDictionary is the preset dictionary the store deflates c's kept mails of a kind in
// locale with (store.MailDictionary): c's own mails in that language, written with the
// templates from sample RMAs. A reply's is a reply of one in-house item, the most typical
// mail; every other kind's is a status answer, a follow-up answer and that reply. A
// dictionary costs its length in CPU for every copy deflated with it, and a reply of several
// items or kinds as a sample made replies only 2–4 % smaller. nil for a language rmad has no
// words for, or when a sample cannot be written (the copy is then deflated without one).
func (c *Composer) mailDictionary(locale, kind string) *store.MailDictionary {
	if !i18n.Known(locale) {
		return nil
	}
	reply := kind == "reply"
	key := c.dictKey(locale, reply)
	if d, ok := keptDicts.Load(key); ok {
		return d.(*store.MailDictionary)
	}
	d, err := c.newMailDictionary(locale, reply)
	if err != nil {
		d = nil
	}
	actual, _ := keptDicts.LoadOrStore(key, d)
	return actual.(*store.MailDictionary)
}

// dictKey is what a dictionary of c's sample mails in locale depends on.
func (c *Composer) dictKey(locale string, reply bool) string {
	conf := c.dictConf
	if conf == "" {
		conf = c.sampleConf()
	}
	return fmt.Sprintf("%s\x00%t\x00%s", locale, reply, conf)
}

// sampleConf is what of c a sample mail depends on. NewComposer notes it (Composer.dictConf):
// formatting the configuration took as long as a quarter of deflating a copy.
func (c *Composer) sampleConf() string {
	return fmt.Sprintf("%q\x00%v\x00%v\x00%q\x00%s\x00%s\x00%d",
		c.From, c.Centers, c.Policy, c.StaffAddr, c.loc(), c.Labels, c.labelsPerPDF)
}

func (c *Composer) newMailDictionary(locale string, reply bool) (*store.MailDictionary, error) {
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
	sub.Items = []rma.Item{one.Item}
	oneItem, err := c.Reply(sub, p, []rma.Decision{one}, at)
	if err != nil {
		return nil, err
	}
	mails := []Message{oneItem}
	if !reply {
		rec := rma.Record{Number: one.Number, PartnerID: p.ID, Decision: one, Status: rma.StatusAwaitingGoods,
			CreatedAt: at, UpdatedAt: at, History: []rma.Event{{At: at, Status: rma.StatusAwaitingGoods, Actor: "rmad"}}}
		status, err := c.StatusAnswer(sub, p, one.Number, []rma.Record{rec}, at)
		if err != nil {
			return nil, err
		}
		followup, err := c.FollowUpAnswer(sub, p, []string{one.Number}, FollowUpNews{Acknowledge: true}, at)
		if err != nil {
			return nil, err
		}
		mails = []Message{status, followup, oneItem}
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
