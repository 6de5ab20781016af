package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// thread is what a partner's follow-up answers: the RMAs of the thread and the items its reply
// rejected, if any.
type thread struct {
	numbers  []string
	rejected *store.Rejected
}

func (t thread) empty() bool {
	return len(t.numbers) == 0 && (t.rejected == nil || len(t.rejected.Items) == 0)
}

// threadIDs are the ids a follow-up names its thread by, the most specific first: In-Reply-To,
// References from the newest, then the reference tokens of rmad's mails it quotes.
func threadIDs(sub rma.Submission) []string {
	ids := []string{sub.InReplyTo}
	for i := len(sub.References) - 1; i >= 0; i-- {
		ids = append(ids, sub.References[i])
	}
	if sub.FollowUp != nil {
		ids = append(ids, sub.FollowUp.Refs...)
	}
	return ids
}

// appendSent adds a mail rmad sends to a thread's ids: its Message-ID and its reference token
// (the "Ref:" line of its text), which stands for it when a client drops References. A mail
// whose Ref line names another mail's thread (a staff copy's names the partner's mail, which
// it references) adds only that token: the store then keeps that mail under it, one entry.
func appendSent(ids []string, m outbound.Message) []string {
	if m.Ref != "" && m.Ref != rma.RefToken(m.ID) {
		return append(ids, m.Ref)
	}
	return append(ids, m.ID, rma.RefToken(m.ID))
}

// followUpThread returns what a partner's mail answers, or an empty thread when it is ordinary
// new mail. The thread is found by In-Reply-To/References or a quoted reference token in the
// sender's partner's thread index, else by the RMA numbers of the subject that this partner
// owns: another partner's numbers are ignored, as if the subject did not name them. A mail with
// items of its own (an EAN; or an item file rmad could not read) is a new submission whatever
// it answers, unless it names a rejected item of the thread it completes ("Line 2", its own
// number). Without a thread it is new mail in any case.
func (p *pipeline) followUpThread(ctx context.Context, sub rma.Submission) (thread, error) {
	if sub.Kind != rma.KindSubmission || sub.FollowUp == nil || sub.PartnerID == "" {
		return thread{}, nil
	}
	for _, pr := range sub.Problems {
		if pr.Code != rma.CodeNoItems && pr.Code != rma.CodeProofMissing {
			return thread{}, nil // too large, an unreadable CSV: answered as a submission
		}
	}
	ids := threadIDs(sub)
	var th thread
	var err error
	if th.numbers, err = p.store.ThreadNumbers(ctx, sub.PartnerID, ids); err != nil {
		return thread{}, err
	}
	if th.rejected, err = p.store.ThreadRejected(ctx, sub.PartnerID, ids); err != nil {
		return thread{}, err
	}
	if newItems(sub.Items) {
		if th.rejected != nil && namesRejected(sub.FollowUp, th.rejected) {
			return th, nil
		}
		return thread{}, nil
	}
	if !th.empty() {
		return th, nil
	}
	for _, n := range sub.FollowUp.Numbers {
		owned, err := p.owns(ctx, sub.PartnerID, n)
		if err != nil {
			return thread{}, err
		}
		if owned && !slices.Contains(th.numbers, n) {
			th.numbers = append(th.numbers, n)
		}
	}
	return th, nil
}

// newItems reports whether items read from a reply are new items: any with an EAN. Fields
// without one (a serial, an IBAN, a tracking number) are what the reply says about its thread.
func newItems(items []rma.Item) bool {
	return slices.ContainsFunc(items, func(it rma.Item) bool { return strings.TrimSpace(it.EAN) != "" })
}

// owns reports whether RMA number exists and belongs to partner.
func (p *pipeline) owns(ctx context.Context, partner, number string) (bool, error) {
	rec, err := p.store.Get(ctx, number)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("follow-up %s: %w", number, err)
	}
	return rec.PartnerID == partner, nil
}

// namesRejected reports whether a follow-up names a rejected item: by its line or its own number.
func namesRejected(f *rma.FollowUp, r *store.Rejected) bool {
	for _, set := range f.Scoped {
		if set.Line > 0 && rejectedLine(r, set.Line) >= 0 {
			return true
		}
	}
	return rejectedOwn(r, f.Fields["own_number"]) >= 0
}

func rejectedLine(r *store.Rejected, line int) int {
	return slices.IndexFunc(r.Items, func(it store.RejectedItem) bool { return it.Decision.Line == line })
}

func rejectedOwn(r *store.Rejected, own string) int {
	own = strings.ToUpper(strings.Join(strings.Fields(own), " "))
	if own == "" {
		return -1
	}
	return slices.IndexFunc(r.Items, func(it store.RejectedItem) bool {
		return strings.ToUpper(strings.Join(strings.Fields(it.Decision.Item.OwnNumber), " ")) == own
	})
}

// Which fields a follow-up records on an RMA: those for every RMA of the thread (the parcel's)
// and those of one item, recorded only where the RMA is clear.
var (
	parcelFields = []string{"tracking", "contents", "receiver_pays"}
	itemFields   = []string{"serial", "vendor_ticket", "iban"}
)

// followUpPlan is what a follow-up will do: fields per RMA, completions, and the answer's news.
type followUpPlan struct {
	fields      map[string]map[string]string // RMA number → field → value
	completions []completion
	news        outbound.FollowUpNews
}

// followUpNote is what a follow-up that completes rejected items recorded besides, for the
// completion's reply to say in the same mail: the news and the RMAs it was about.
type followUpNote struct {
	news    outbound.FollowUpNews
	numbers []string
}

// completion is a rejected item with the follow-up's values on top of its original ones.
type completion struct {
	root string
	item rma.Item
}

// plan reads a follow-up against its thread: unscoped parcel fields go to every RMA, unscoped
// item fields to the one RMA (else the answer asks which); fields under an RMA number go to
// it; fields under a line, or naming a rejected item's own number, or unscoped when the thread
// has one rejected item, complete it (several: the answer asks which line).
func (p *pipeline) plan(ctx context.Context, sub rma.Submission, th thread) (followUpPlan, error) {
	pl := followUpPlan{fields: map[string]map[string]string{}}
	f := sub.FollowUp
	record := func(number, field, value string) {
		if pl.fields[number] == nil {
			pl.fields[number] = map[string]string{}
		}
		pl.fields[number][field] = value
	}
	complete := func(i int, fields map[string]string) {
		it := th.rejected.Items[i]
		for j := range pl.completions {
			if pl.completions[j].root == it.Root {
				for k, v := range fields {
					pl.completions[j].item.Set(k, v)
				}
				return
			}
		}
		item := it.Decision.Item
		item.Line = it.Decision.Line
		for k, v := range fields {
			item.Set(k, v)
		}
		// A problem of reading a field the partner gave again is gone with the old value.
		item.ParseProblems = slices.DeleteFunc(slices.Clone(item.ParseProblems), func(pr rma.Problem) bool {
			_, given := fields[pr.Field]
			return given
		})
		pl.completions = append(pl.completions, completion{root: it.Root, item: item})
	}
	askLine := func(fields map[string]string) {
		var lines []int
		for _, it := range th.rejected.Items {
			lines = append(lines, it.Decision.Line)
		}
		for _, k := range rma.Fields {
			if v, ok := fields[k]; ok && !slices.Contains(parcelFields, k) {
				pl.news.WhichLine = append(pl.news.WhichLine, outbound.FieldNote{Lines: lines, Field: k, Value: v})
			}
		}
	}

	unscoped := f.Fields
	if th.rejected != nil && len(th.rejected.Items) > 0 && hasItemField(unscoped) {
		switch i := rejectedOwn(th.rejected, unscoped["own_number"]); {
		case i >= 0:
			complete(i, unscoped)
		case len(th.rejected.Items) == 1:
			complete(0, unscoped)
		default:
			askLine(unscoped)
		}
		unscoped = onlyFields(unscoped, parcelFields)
	}
	for _, k := range rma.Fields {
		v, ok := unscoped[k]
		switch {
		case !ok:
		case slices.Contains(parcelFields, k):
			for _, n := range th.numbers {
				record(n, k, v)
			}
		case slices.Contains(itemFields, k) && len(th.numbers) == 1:
			record(th.numbers[0], k, v)
		case slices.Contains(itemFields, k) && len(th.numbers) > 1:
			pl.news.WhichRMA = append(pl.news.WhichRMA, outbound.FieldNote{Numbers: th.numbers, Field: k, Value: v})
		}
	}
	for _, set := range f.Scoped {
		switch {
		case set.Number != "":
			ok := slices.Contains(th.numbers, set.Number)
			if !ok {
				var err error
				if ok, err = p.owns(ctx, sub.PartnerID, set.Number); err != nil {
					return pl, err
				}
			}
			for _, k := range rma.Fields {
				if v, given := set.Fields[k]; given && ok && (slices.Contains(parcelFields, k) || slices.Contains(itemFields, k)) {
					record(set.Number, k, v)
				}
			}
		case set.Line > 0 && th.rejected != nil:
			if i := rejectedLine(th.rejected, set.Line); i >= 0 {
				complete(i, set.Fields)
			} else {
				askLine(set.Fields)
			}
		}
	}
	// The answer says each value once, with the RMAs it went to.
	for _, k := range rma.Fields {
		var byValue []outbound.FieldNote
		for _, n := range sortedKeys(pl.fields) {
			v, ok := pl.fields[n][k]
			if !ok {
				continue
			}
			if i := slices.IndexFunc(byValue, func(fn outbound.FieldNote) bool { return fn.Value == v }); i >= 0 {
				byValue[i].Numbers = append(byValue[i].Numbers, n)
			} else {
				byValue = append(byValue, outbound.FieldNote{Numbers: []string{n}, Field: k, Value: v})
			}
		}
		pl.news.Recorded = append(pl.news.Recorded, byValue...)
	}
	return pl, nil
}

// hasItemField reports whether fields give anything an item is checked on.
func hasItemField(fields map[string]string) bool {
	for k := range fields {
		if !slices.Contains(parcelFields, k) {
			return true
		}
	}
	return false
}

func onlyFields(fields map[string]string, keep []string) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		if slices.Contains(keep, k) {
			out[k] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, compareNumbers)
	return ks
}

func compareNumbers(a, b string) int {
	x, _ := rma.ParseNumber(a)
	y, _ := rma.ParseNumber(b)
	if x.Year != y.Year {
		return x.Year - y.Year
	}
	return x.N - y.N
}

// followUp records a partner's reply in a thread: its text as a partner note on each RMA of the
// thread (actor: the sender's address) with the fields recorded on it; rejected items it
// completes are decided again and answered like a submission; staff are told by mail; the
// partner gets a short answer when a field was recorded or one needs its RMA or line named (or
// conversation.acknowledge is on). Each RMA gets the note once per mail (its submission key), a
// completion is committed once under the mail's key, and the mails keep their Message-IDs, so a
// retry after a crash anywhere in between records nothing twice and still sends what was not sent.
func (p *pipeline) followUp(ctx context.Context, sub rma.Submission, th thread, enqueued string, log zerolog.Logger) error {
	partner, ok := p.engine.Data().Partners.ByID(sub.PartnerID)
	if !ok {
		return fmt.Errorf("partner %q is not registered: %w", sub.PartnerID, queue.ErrPermanent)
	}
	pl, err := p.plan(ctx, sub, th)
	if err != nil {
		return err
	}
	now := p.now()
	once := store.FollowUpKey(sub)
	targets := slices.Clone(th.numbers)
	for n := range pl.fields {
		if !slices.Contains(targets, n) {
			targets = append(targets, n)
		}
	}
	slices.SortFunc(targets, compareNumbers)
	for _, n := range targets {
		extra := map[string]string{"source": "mail", "message_id": sub.Source.MessageID}
		for k, v := range pl.fields[n] {
			extra[k] = v
		}
		ev := rma.Event{At: now, Actor: sub.From, Note: sub.FollowUp.Text, Extra: extra}
		if _, err := p.store.AddEventOnce(ctx, n, once, ev); err != nil {
			return fmt.Errorf("follow-up on %s: %w", n, err)
		}
		if tracking := pl.fields[n]["tracking"]; tracking != "" {
			if err := p.store.IndexTracking(ctx, n, tracking); err != nil {
				return fmt.Errorf("follow-up on %s: %w", n, err)
			}
		}
	}
	if len(pl.completions) > 0 {
		// One answer: the completion's reply says what else was recorded.
		note := &followUpNote{news: pl.news, numbers: targets}
		if err := p.complete(ctx, sub, th.rejected, pl.completions, note, now, enqueued, log); err != nil {
			return err
		}
	}
	pl.news.Acknowledge = p.acknowledge && len(pl.completions) == 0
	ids := []string{sub.Source.MessageID}
	staff, staffOK, err := p.composer.FollowUpStaff(sub, partner, targets, pl.news, now)
	if err != nil {
		return fmt.Errorf("compose follow-up staff mail: %w", err)
	}
	if staffOK {
		ids = appendSent(ids, staff)
	}
	var answer *outbound.Message
	if pl.news.Answers() && len(pl.completions) == 0 {
		msg, err := p.composer.FollowUpAnswer(sub, partner, targets, pl.news, now)
		if err != nil {
			return fmt.Errorf("compose follow-up answer: %w", err)
		}
		ids = appendSent(ids, msg)
		answer = &msg
	}
	if th.rejected != nil && len(targets) == 0 {
		// A thread of rejected items only: the answer's answer is in it too.
		if err := p.store.IndexRejected(ctx, partner.ID, *th.rejected, ids...); err != nil {
			return err
		}
	}
	var msgs []outbound.Message
	if answer != nil {
		msgs = append(msgs, *answer)
	} else {
		enqueued = "" // the latency metric is about the partner's answer
	}
	if staffOK {
		msgs = append(msgs, staff)
	}
	// One outbox entry for both, with their thread index ahead of it; the answer is the RMAs'
	// newest partner mail, kept for a re-send.
	index := indexThread(ctx, p.store, partner.ID, targets, ids...)
	switch {
	case answer != nil:
		err = enqueueKept(ctx, p.outbox, p.store, p.composer, partner.ID, targets, index, enqueued, msgs...)
	case len(msgs) > 0:
		err = enqueueWith(ctx, p.outbox, index, enqueued, msgs...)
	default:
		err = p.store.IndexThread(ctx, partner.ID, targets, ids...)
	}
	if err != nil {
		return err
	}
	log.Info().Str("rma", strings.Join(targets, " ")).Int("recorded", len(pl.news.Recorded)).
		Int("completed", len(pl.completions)).Bool("answered", answer != nil).Msg("follow-up recorded")
	return nil
}

// complete decides rejected items again with the follow-up's values on top of their original
// ones (the original mail's proof of purchase counts) and answers like a submission: accepted
// ones get a new RMA number, the others say what is still missing. An item completed before
// (by another mail) is a duplicate of the RMA it became. The reply also says note's news.
func (p *pipeline) complete(ctx context.Context, sub rma.Submission, rej *store.Rejected, cs []completion,
	note *followUpNote, now time.Time, enqueued string, log zerolog.Logger) error {
	csub := sub
	csub.Kind, csub.FollowUp, csub.Problems = rma.KindSubmission, nil, nil
	csub.HasProof = sub.HasProof || rej.HasProof
	if rej.Locale != "" {
		csub.Locale = rej.Locale
	}
	if rej.CSVDelimiter != 0 {
		csub.CSVDelimiter = rej.CSVDelimiter
	}
	csub.Items = make([]rma.Item, len(cs))
	roots := make([]string, len(cs))
	for i, c := range cs {
		csub.Items[i], roots[i] = c.item, c.root
	}
	ds := p.engine.Evaluate(csub, now)
	by := store.RejectedID(csub)
	for i := range ds {
		number, first, err := p.store.Completed(ctx, csub.PartnerID, roots[i])
		if err != nil {
			return err
		}
		if number != "" && first != by {
			ds[i].Result, ds[i].Number, ds[i].Problems = rma.ResultDuplicate, number, nil
			if rec, err := p.store.Get(ctx, number); err == nil {
				ds[i].Route.Handling = rec.Decision.Route.Handling
			}
		}
	}
	out, err := p.record(ctx, csub, ds, roots, now, enqueued, true, note)
	if err != nil {
		return fmt.Errorf("completion: %w", err)
	}
	log.Info().Int("items", len(out)).Str("numbers", numbers(out)).Msg("rejected items completed")
	return nil
}

// markCompleted marks the roots of accepted completions as completed by sub.
func (p *pipeline) markCompleted(ctx context.Context, sub rma.Submission, ds []rma.Decision, roots []string) error {
	by := store.RejectedID(sub)
	for i, root := range roots {
		if i < len(ds) && root != "" && ds[i].Result == rma.ResultAccepted && ds[i].Number != "" {
			if _, _, err := p.store.MarkCompleted(ctx, sub.PartnerID, root, by, ds[i].Number); err != nil {
				return err
			}
		}
	}
	return nil
}

// rejectedOf are a submission's rejected items, each under its root (its own line for a new
// submission), for a later follow-up to complete.
func rejectedOf(sub rma.Submission, ds []rma.Decision, roots []string) store.Rejected {
	id := store.RejectedID(sub)
	r := store.Rejected{ID: id, HasProof: sub.HasProof, Locale: sub.Locale, CSVDelimiter: sub.CSVDelimiter}
	for i, d := range ds {
		if d.Result != rma.ResultRejected {
			continue
		}
		root := fmt.Sprintf("%s:%d", id, d.Line)
		if i < len(roots) && roots[i] != "" {
			root = roots[i]
		}
		r.Items = append(r.Items, store.RejectedItem{Root: root, Decision: d})
	}
	return r
}

// decidedNumbers are the RMA numbers a reply names: new ones and the existing ones of duplicates.
func decidedNumbers(ds []rma.Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Number != "" && !slices.Contains(out, d.Number) {
			out = append(out, d.Number)
		}
	}
	return out
}
