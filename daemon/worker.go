package daemon

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// Attributes of an inbox entry; the raw mail is the payload.
const (
	attrMailbox     = "mailbox"
	attrUIDValidity = "uidvalidity"
	attrUID         = "uid"
	attrTooLarge    = "too_large" // payload is only the header block
	attrEnqueued    = "enqueued"  // unix nanoseconds, for the reply latency metric
)

// unknownSenderWindow is how often one unknown address may get the registration hint (docs/contract.md §1.4).
const unknownSenderWindow = 24 * time.Hour

// pipeline is the inbox stage: parse → rules → store → compose replies → outbox. It is shared by
// the mail worker and the HTTP submission path so both decide exactly alike.
type pipeline struct {
	parser   *ingest.Parser
	engine   *rules.Engine
	store    *store.Store
	composer *outbound.Composer
	outbox   *queue.Queue
	metrics  *metrics.Metrics
	replyTo  bool // security.unknown_sender_reply
	// acknowledge answers free-text follow-ups with a short acknowledgement (conversation.acknowledge).
	acknowledge bool
	// oldKeysUntil is when state under the keys of versions before mails were keyed by content
	// is gone (store.OldKeysUntil): until then a mail is checked for it.
	oldKeysUntil time.Time
	// estimates records answers to repair estimates (nil until the daemon sets it).
	estimates *estimate.Service
	now       func() time.Time
	log       zerolog.Logger
}

// handleInbox processes one inbox entry. Every step is idempotent, so a retry after a crash
// (before the ack) changes nothing twice: the store recognises the submission and returns the
// original decisions, and replies keep their Message-ID, which the outbox sends once.
func (p *pipeline) handleInbox(ctx context.Context, m queue.Message) error {
	sub, err := p.parser.ParseMail(bytes.NewReader(m.Payload))
	// The submission holds all that is needed of the raw mail from here on: let it go (up to 25
	// MiB) before the records and replies are made (the queue keeps no copy while this runs).
	m.Payload = nil
	if err != nil {
		// Not even headers: nobody to answer. Permanent, so it is kept as a dead letter for a person.
		return fmt.Errorf("inbox %s: unreadable mail: %v: %w", m.ID, err, queue.ErrPermanent)
	}
	sub.Source.Mailbox = m.Attrs[attrMailbox]
	if v, err := strconv.ParseUint(m.Attrs[attrUIDValidity], 10, 32); err == nil {
		sub.Source.UIDValidity = uint32(v)
	}
	if v, err := strconv.ParseUint(m.Attrs[attrUID], 10, 32); err == nil {
		sub.Source.UID = uint32(v)
	}
	if m.Attrs[attrTooLarge] == "1" && sub.Kind == rma.KindSubmission {
		// Only the header was fetched: the missing body is not the partner's mistake, its size is.
		sub.Items = nil
		sub.Problems = []rma.Problem{rma.NewProblem(rma.CodeTooLarge, "", "reason", "message_size",
			"limit", strconv.FormatInt(p.parser.Limits.MaxMessageBytes, 10))}
	}
	log := p.log.With().Str("message_id", sub.Source.MessageID).Str("partner", sub.PartnerID).Logger()
	log.Debug().Msg("parsed") // the debug log's timestamps are the stages of a mail (rmadbench -trace)
	enqueued := m.Attrs[attrEnqueued]

	switch sub.Kind {
	case rma.KindIgnored:
		log.Info().Str("why", sub.Why).Msg("automatic mail ignored")
		p.metrics.ObserveSubmission(sub, nil)
		return nil
	case rma.KindUnknownSender:
		p.metrics.ObserveSubmission(sub, nil)
		if !p.replyTo {
			log.Info().Str("from", sub.From).Msg("unknown sender, not answered (security.unknown_sender_reply is off)")
			return nil
		}
		first, err := p.store.Once(ctx, "hint:"+sub.From, unknownSenderWindow)
		if err != nil {
			return fmt.Errorf("inbox %s: unknown-sender rate limit: %w", m.ID, err)
		}
		if !first {
			log.Info().Str("from", sub.From).Msg("unknown sender already told how to register within 24h")
			return nil
		}
		msg, err := p.composer.RegistrationHint(sub, p.now())
		if err != nil {
			return fmt.Errorf("inbox %s: compose registration hint: %w", m.ID, err)
		}
		log.Info().Str("from", sub.From).Msg("unknown sender: registration hint")
		return p.send(ctx, enqueued, msg)
	case rma.KindCommand:
		p.metrics.ObserveSubmission(sub, nil)
		return p.answerCommand(ctx, sub, enqueued, log)
	}

	th, err := p.followUpThread(ctx, sub)
	if err != nil {
		return fmt.Errorf("inbox %s: %w", m.ID, err)
	}
	if old, err := p.keyedBefore(ctx, sub, th.numbers); err != nil {
		return fmt.Errorf("inbox %s: %w", m.ID, err)
	} else if old {
		// Taken in again after an upgrade: what the earlier version recorded and sent for it
		// is under the earlier key, and recognised only under it.
		sub = store.OldKeyed(sub)
		log.Info().Msg("mail handled before under its earlier key: handled under that key")
	}
	if !th.empty() {
		// A reply in a thread is never a rejected request: no items is what it should have.
		sub.Kind, sub.Problems = rma.KindFollowUp, nil
		p.metrics.ObserveSubmission(sub, nil)
		if done, err := p.estimateAnswer(ctx, sub, th.numbers, log); done || err != nil {
			return err
		}
		return p.followUp(ctx, sub, th, enqueued, log)
	}

	ds, err := p.submit(ctx, sub, enqueued, true)
	if err != nil {
		return fmt.Errorf("inbox %s: %w", m.ID, err)
	}
	log.Info().Int("items", len(ds)).Str("numbers", numbers(ds)).Msg("submission answered")
	return nil
}

// submit decides, records and answers one submission; it returns the decisions as stored. The
// partner's reply is mailed when notify is set (always for mail; on request for webhooks); staff
// copies and claims forwarded to manufacturers are part of the processing and always go.
func (p *pipeline) submit(ctx context.Context, sub rma.Submission, enqueued string, notify bool) ([]rma.Decision, error) {
	now := p.now()
	return p.record(ctx, sub, p.engine.Evaluate(sub, now), nil, now, enqueued, notify, nil)
}

// record commits decided items and answers them (submit's second half; completions of
// rejected items come in here too). roots are the rejected items the decisions complete, by
// index (nil for a new submission): accepted ones are marked completed, rejected ones stay
// completable under the same root. fu, for a completion, is what the same follow-up recorded
// besides: the reply says it too, and is in the thread of those RMAs as well.
func (p *pipeline) record(ctx context.Context, sub rma.Submission, ds []rma.Decision, roots []string,
	now time.Time, enqueued string, notify bool, fu *followUpNote) ([]rma.Decision, error) {
	partner, ok := p.engine.Data().Partners.ByID(sub.PartnerID)
	if !ok {
		return nil, fmt.Errorf("partner %q is not registered: %w", sub.PartnerID, queue.ErrPermanent)
	}
	out, err := p.store.Commit(ctx, sub, ds, now)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	p.log.Debug().Str("message_id", sub.Source.MessageID).Msg("committed")
	if err := p.markCompleted(ctx, sub, out.Decisions, roots); err != nil {
		return nil, err
	}
	if !out.Replay {
		p.metrics.ObserveSubmission(sub, out.Decisions)
	}
	var reply *outbound.Message
	if notify {
		var news outbound.FollowUpNews
		if fu != nil {
			news = fu.news
		}
		r, err := p.composer.ReplyWithNews(sub, partner, out.Decisions, news, now)
		if err != nil {
			return nil, fmt.Errorf("compose reply: %w", err)
		}
		reply = &r
		p.log.Debug().Str("message_id", sub.Source.MessageID).Msg("reply composed")
	}
	var msgs []outbound.Message
	if staff, ok, err := p.composer.StaffCopy(sub, partner, out.Decisions, now); err != nil {
		return nil, fmt.Errorf("compose staff copy: %w", err)
	} else if ok {
		msgs = append(msgs, staff)
	}
	fwd, err := p.composer.Forward(sub, partner, out.Decisions, now)
	if err != nil {
		return nil, fmt.Errorf("compose forward: %w", err)
	}
	msgs = append(msgs, fwd...)
	p.log.Debug().Str("message_id", sub.Source.MessageID).Msg("staff copy and forwards composed")
	// The thread is known before any of its mails leaves, so a fast answer is recognised.
	ids := []string{sub.Source.MessageID}
	if reply != nil {
		ids = appendSent(ids, *reply)
	}
	for _, m := range msgs {
		ids = appendSent(ids, m)
	}
	threadNumbers := decidedNumbers(out.Decisions)
	if fu != nil {
		for _, n := range fu.numbers {
			if !slices.Contains(threadNumbers, n) {
				threadNumbers = append(threadNumbers, n)
			}
		}
	}
	if err := p.store.IndexRejected(ctx, partner.ID, rejectedOf(sub, out.Decisions, roots), ids...); err != nil {
		return nil, err
	}
	// With replicas to confirm (redis.min_replicas) the thread index is written before the
	// confirmation below, which then covers it too (replication is in order): a failover must
	// not forget the thread of a reply that left. Without, it goes with the outbox entry.
	var index func(redis.Pipeliner) func() error
	if p.store.Replication().Replicas > 0 || (reply == nil && len(msgs) == 0) {
		if err := p.store.IndexThread(ctx, partner.ID, threadNumbers, ids...); err != nil {
			return nil, err
		}
	} else {
		index = indexThread(ctx, p.store, partner.ID, threadNumbers, ids...)
	}
	// No number leaves before the replicas hold it (redis.min_replicas): a failover must not
	// give a number a partner was told to another mail. Not confirmed: no reply yet, retried.
	if err := p.store.ConfirmCommit(ctx, partner.ID, out.Decisions); err != nil {
		p.log.Warn().Err(err).Str("partner", partner.ID).Str("message_id", sub.Source.MessageID).
			Msg("commit not confirmed by the replicas; the reply waits and the submission is retried")
		return nil, fmt.Errorf("commit: %w", err)
	}
	// One outbox entry for the reply, the staff copy and the forwards, in one round trip with
	// their thread index unless it is written already (ahead of the entry: the thread is known
	// before any of its mails leaves, so a fast answer is recognised); the reply is kept (30
	// days) after, so staff can send it again from the console.
	if reply != nil {
		msgs = append([]outbound.Message{*reply}, msgs...)
		err = enqueueKept(ctx, p.outbox, p.store, p.composer, partner.ID, decidedNumbers(out.Decisions), index, enqueued, msgs...)
	} else {
		// No trigger time: the latency metric is about the partner's reply.
		err = enqueueWith(ctx, p.outbox, index, "", msgs...)
	}
	if err != nil {
		return nil, err
	}
	p.log.Debug().Str("message_id", sub.Source.MessageID).Msg("queued")
	return out.Decisions, nil
}

// Submit is the HTTP side's way into the pipeline (webhook and partner API submissions).
func (p *pipeline) Submit(ctx context.Context, sub rma.Submission, notify bool) ([]rma.Decision, error) {
	return p.submit(ctx, sub, strconv.FormatInt(p.now().UnixNano(), 10), notify)
}

func (p *pipeline) answerCommand(ctx context.Context, sub rma.Submission, enqueued string, log zerolog.Logger) error {
	partner, ok := p.engine.Data().Partners.ByID(sub.PartnerID)
	if !ok || sub.Command == nil {
		return fmt.Errorf("command from %q without partner: %w", sub.From, queue.ErrPermanent)
	}
	now := p.now()
	msg, commandNumbers, err := p.commandAnswer(ctx, sub, partner, now, log)
	if err != nil {
		return err
	}
	if sub.Source.ContentSHA256 != "" && p.now().Before(p.oldKeysUntil) {
		// Taken in again after an upgrade: an answer the earlier version composed under the
		// mail's earlier key (sent, or in its thread index because it was queued) is the answer.
		old, oldNumbers, err := p.commandAnswer(ctx, store.OldKeyed(sub), partner, now, zerolog.Nop())
		if err != nil {
			return err
		}
		if known, err := p.knownMail(ctx, partner.ID, old.ID); err != nil {
			return err
		} else if known {
			log.Info().Msg("command answered before under the mail's earlier key: that answer again")
			msg, commandNumbers = old, oldNumbers
		}
	}
	// A STATUS answer about RMAs is their newest partner mail (a WARRANTY answer is about none).
	index := indexThread(ctx, p.store, partner.ID, commandNumbers, appendSent([]string{sub.Source.MessageID}, msg)...)
	return enqueueKept(ctx, p.outbox, p.store, p.composer, partner.ID, commandNumbers, index, enqueued, msg)
}

// keyedBefore is store.KeyedBefore while state under the earlier keys may still exist.
func (p *pipeline) keyedBefore(ctx context.Context, sub rma.Submission, numbers []string) (bool, error) {
	if !p.now().Before(p.oldKeysUntil) {
		return false, nil
	}
	return p.store.KeyedBefore(ctx, sub, numbers)
}

// commandAnswer composes the answer to a command mail and the RMAs it is about (its thread).
func (p *pipeline) commandAnswer(ctx context.Context, sub rma.Submission, partner rma.Partner, now time.Time, log zerolog.Logger) (outbound.Message, []string, error) {
	var msg outbound.Message
	var err error
	var commandNumbers []string
	switch sub.Command.Name {
	case rma.CommandStatus:
		recs, lerr := p.store.Lookup(ctx, partner.ID, sub.Command.Query)
		if lerr != nil {
			return msg, nil, fmt.Errorf("status %q: %w", sub.Command.Query, lerr)
		}
		for _, r := range recs {
			commandNumbers = append(commandNumbers, r.Number)
		}
		msg, err = p.composer.StatusAnswer(sub, partner, sub.Command.Query, recs, now)
		log.Info().Str("query", sub.Command.Query).Int("matches", len(recs)).Msg("status command answered")
	case rma.CommandWarranty:
		w := p.engine.Warranty(partner.ID, sub.Command.EAN, sub.Command.Serial, now)
		msg, err = p.composer.WarrantyAnswer(sub, partner, warrantyInfo(w), now)
		log.Info().Str("ean", sub.Command.EAN).Str("warranty", string(w.Warranty.Status)).Msg("warranty command answered")
	default:
		return msg, nil, fmt.Errorf("unknown command %q: %w", sub.Command.Name, queue.ErrPermanent)
	}
	if err != nil {
		return msg, nil, fmt.Errorf("compose %s answer: %w", sub.Command.Name, err)
	}
	return msg, commandNumbers, nil
}

// knownMail reports whether a mail of rmad's with Message-ID id was sent or is in partner's
// thread index (queued to be sent).
func (p *pipeline) knownMail(ctx context.Context, partner, id string) (bool, error) {
	if sent, err := p.store.Delivered(ctx, id); err != nil || sent {
		return sent, err
	}
	nums, err := p.store.ThreadNumbers(ctx, partner, []string{id})
	return len(nums) > 0, err
}

// send queues msgs as one outbox entry.
func (p *pipeline) send(ctx context.Context, enqueued string, msgs ...outbound.Message) error {
	return enqueue(ctx, p.outbox, enqueued, msgs...)
}

func numbers(ds []rma.Decision) string {
	var b bytes.Buffer
	for _, d := range ds {
		if d.Number == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d.Number)
	}
	return b.String()
}

// warrantyInfo turns the rules' warranty answer into what the WARRANTY reply shows.
func warrantyInfo(w rules.WarrantyAnswer) outbound.WarrantyInfo {
	info := outbound.WarrantyInfo{
		EAN: w.EAN, Serial: w.Serial, Product: w.Product, Until: w.Warranty.Until,
		Status: w.Warranty.Status, Reason: w.Reason, Problem: w.Problem, Notes: w.Notes,
	}
	if w.Sale != nil {
		info.Purchase = w.Sale.InvoiceDate
	}
	return info
}
