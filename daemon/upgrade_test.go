package daemon_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// TestUpgradeRecognisesOldKeys: mail an earlier version of rmad handled — keyed by Message-ID
// and the raw mail's SHA-256, before mails were keyed by their decoded content — and that is
// taken in again by this version (it was still in the mailbox when the old process stopped) is
// recognised: a submission (its outcome and its reply and staff copy under the old key), a
// follow-up (its note on the RMA and its answer) and a STATUS command (its answer) written
// here as the old version wrote them; then the same mails delivered to the running daemon
// record nothing twice, open no RMA and send no mail. (A store this version created is
// never checked for them: store TestOldKeysUntil.)
func TestUpgradeRecognisesOldKeys(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(fixturesDay)
	h := newHarness(t, harnessOptions{clock: clock})
	ctx := context.Background()
	st := h.st
	data, err := rules.LoadData(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(h.cfg, data)
	parser := &ingest.Parser{Partners: data.Partners, Limits: h.cfg.Limits}
	composer := outbound.NewComposer(h.cfg)
	ob := daemon.NewOutbox(h.rdb, h.cfg, config.NewLogger(h.cfg.Log, h.logs))
	t.Cleanup(ob.Close)
	const alfa = "service@alfa-computers.gr"
	partner, _ := data.Partners.ByID("P-GR-001")

	// oldVersion parses raw as this version does and returns it keyed the old way.
	oldVersion := func(raw []byte) rma.Submission {
		t.Helper()
		sub, err := parser.ParseMail(bytes.NewReader(raw))
		if err != nil || sub.Source.ContentSHA256 == "" {
			t.Fatalf("parse: %v (content digest %q)", err, sub.Source.ContentSHA256)
		}
		return store.OldKeyed(sub)
	}
	// queue puts the old version's mails on the outbox and waits until they are sent.
	queue := func(what string, msgs ...outbound.Message) {
		t.Helper()
		before := len(h.sink.Mails())
		for _, m := range msgs {
			if err := ob.Put(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, waitLong, what+" sent", func() bool { return len(h.sink.Mails()) == before+len(msgs) })
	}
	index := func(numbers []string, ids ...string) {
		t.Helper()
		var all []string
		for _, id := range ids {
			all = append(all, id, rma.RefToken(id))
		}
		if err := st.IndexThread(ctx, partner.ID, numbers, all...); err != nil {
			t.Fatal(err)
		}
	}

	// 1. A submission: committed under the old key, reply and staff copy sent.
	raw, _ := fixtureMail(t, "01-gr-body-router.eml")
	// As the IMAP server hands it out (the old version hashed the bytes it fetched).
	raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	sub := oldVersion(raw)
	now := clock.Now()
	out, err := st.Commit(ctx, sub, engine.Evaluate(sub, now), now)
	if err != nil {
		t.Fatal(err)
	}
	number := out.Decisions[0].Number
	reply, err := composer.Reply(sub, partner, out.Decisions, now)
	if err != nil {
		t.Fatal(err)
	}
	staff, ok, err := composer.StaffCopy(sub, partner, out.Decisions, now)
	if err != nil || !ok {
		t.Fatalf("staff copy: %v %v", ok, err)
	}
	index([]string{number}, sub.Source.MessageID, reply.ID, staff.ID)
	// This version first serves the store once the old version's data is in it (a store it
	// creates fresh is never checked for old keys: store.OldKeysUntil).
	h.start(t)
	queue("the old version's reply", reply, staff)
	if sent := h.deliver(ctx, t, "01 after the upgrade", raw); len(sent) != 0 {
		t.Errorf("the submission after the upgrade: %d mails sent (%v), want none", len(sent), subjects(t, sent))
	}
	if recs, err := st.Lookup(ctx, partner.ID, out.Decisions[0].Item.Serial); err != nil || len(recs) != 1 {
		t.Errorf("serial %s after the upgrade: %d RMAs, %v; want 1", out.Decisions[0].Item.Serial, len(recs), err)
	}

	// 2. A follow-up giving a tracking number: its note on the RMA, its answer and staff mail.
	fu := followUpMail("Alfa Computers <"+alfa+">", "up-fu@alfa-computers.gr", "Re: RMA ["+number+"]", reply.ID,
		[]string{sub.Source.MessageID, reply.ID}, "AWB: 7012345678\n")
	fsub := oldVersion(fu)
	ev := rma.Event{At: now, Actor: fsub.From, Note: fsub.FollowUp.Text,
		Extra: map[string]string{"source": "mail", "message_id": fsub.Source.MessageID, "tracking": "7012345678"}}
	if ok, err := st.AddEventOnce(ctx, number, store.FollowUpKey(fsub), ev); err != nil || !ok {
		t.Fatalf("old follow-up note: %v %v", ok, err)
	}
	news := outbound.FollowUpNews{Recorded: []outbound.FieldNote{{Numbers: []string{number}, Field: "tracking", Value: "7012345678"}}}
	answer, err := composer.FollowUpAnswer(fsub, partner, []string{number}, news, now)
	if err != nil {
		t.Fatal(err)
	}
	fstaff, _, err := composer.FollowUpStaff(fsub, partner, []string{number}, news, now)
	if err != nil {
		t.Fatal(err)
	}
	index([]string{number}, fsub.Source.MessageID, answer.ID, fstaff.ID)
	queue("the old version's follow-up answer", answer, fstaff)
	if sent := h.deliver(ctx, t, "follow-up after the upgrade", fu); len(sent) != 0 {
		t.Errorf("the follow-up after the upgrade: %d mails sent (%v), want none", len(sent), subjects(t, sent))
	}
	if evs := partnerEvents(t, st, number); len(evs) != 1 {
		t.Errorf("%s after the upgrade: %d partner notes, want 1", number, len(evs))
	}

	// 3. A STATUS command: its answer sent.
	status := followUpMail(alfa, "up-status@alfa-computers.gr", "STATUS "+number, "", nil, "\n")
	csub := oldVersion(status)
	recs, err := st.Lookup(ctx, partner.ID, csub.Command.Query)
	if err != nil || len(recs) != 1 {
		t.Fatalf("lookup %q: %d, %v", csub.Command.Query, len(recs), err)
	}
	sanswer, err := composer.StatusAnswer(csub, partner, csub.Command.Query, recs, now)
	if err != nil {
		t.Fatal(err)
	}
	index([]string{number}, csub.Source.MessageID, sanswer.ID)
	queue("the old version's status answer", sanswer)
	if sent := h.deliver(ctx, t, "status after the upgrade", status); len(sent) != 0 {
		t.Errorf("the STATUS command after the upgrade: %d mails sent (%v), want none", len(sent), subjects(t, sent))
	}

	// Mail taken in first by this version is keyed by content as before: a STATUS of its own
	// is answered.
	if toPartner, _ := sentTo(t, h.deliver(ctx, t, "new status", followUpMail(alfa, "up-status-2@alfa-computers.gr", "STATUS "+number, "", nil, "\n")), alfa); len(toPartner) != 1 {
		t.Errorf("a new STATUS after the upgrade: %d answers, want 1", len(toPartner))
	}
	h.checkNoDeadLetters(ctx, t)
}

func subjects(t *testing.T, sent []sandbox.Mail) []string {
	t.Helper()
	var out []string
	for _, m := range sent {
		out = append(out, parseSent(t, m).Subject)
	}
	return out
}
