package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

const staffAddr = "service-desk@example.com"

// followUpMail is a partner's reply as a mail client writes it (CRLF, plain text, UTF-8).
func followUpMail(from, id, subject, inReplyTo string, refs []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: RMA Service <rma@distributor.example>\r\nSubject: %s\r\n", from, subject)
	fmt.Fprintf(&b, "Date: Mon, 02 Nov 2026 11:00:00 +0000\r\nMessage-ID: <%s>\r\n", id)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", inReplyTo)
	}
	if len(refs) > 0 {
		fmt.Fprintf(&b, "References: <%s>\r\n", strings.Join(refs, "> <"))
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// quote prefixes every line with "> ", as a mail client quotes the mail it answers.
func quote(text string) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

// sentTo splits the mails sent into the partner's (to addr) and staff's.
func sentTo(t *testing.T, sent []sandbox.Mail, addr string) (partner, staff []sentMail) {
	t.Helper()
	for _, m := range sent {
		p := parseSent(t, m)
		switch {
		case slices.Contains(p.To, addr):
			partner = append(partner, p)
		case slices.Contains(p.To, staffAddr):
			staff = append(staff, p)
		default:
			t.Errorf("mail %q to %v: neither the partner nor staff", p.Subject, p.To)
		}
	}
	return partner, staff
}

// partnerEvents are the history entries of an RMA written by a partner's follow-up.
func partnerEvents(t *testing.T, st *store.Store, number string) []rma.Event {
	t.Helper()
	rec, err := st.Get(context.Background(), number)
	if err != nil {
		t.Fatalf("get %s: %v", number, err)
	}
	var out []rma.Event
	for _, e := range rec.History {
		if strings.Contains(e.Actor, "@") {
			out = append(out, e)
		}
	}
	return out
}

// TestFollowUps runs the real daemon: a submission is answered, then the partner answers in
// that thread as mail clients do, and rmad records what the reply says on the RMA.
func TestFollowUps(t *testing.T) {
	t.Parallel()
	h := startHarness(t)
	ctx := context.Background()
	st := h.st

	const partnerAddr = "service@alfa-computers.gr"
	orig, reply := submitRouter(ctx, t, h)
	nums := ingest.SubjectNumbers(reply.Subject)
	if len(nums) != 1 {
		t.Fatalf("reply subject %q: want one RMA number", reply.Subject)
	}
	number := nums[0]
	thread := []string{orig.MessageID, reply.MessageID}

	// 1. Tracking in the reply's own text, above the quoted reply: recorded and confirmed.
	trackingReply := followUpMail("Alfa Computers <"+partnerAddr+">", "fu-1@alfa-computers.gr", reSubject(reply.Subject),
		reply.MessageID, thread,
		"Καλησπέρα,\n\nΑριθμός αποστολής: ACS 7012345678\n\nΣτις 2/11/2026 10:00, RMA Service έγραψε:\n"+quote(reply.Text)+"\n")
	sent := h.deliver(ctx, t, "tracking reply", trackingReply)
	toPartner, toStaff := sentTo(t, sent, partnerAddr)
	if len(toPartner) != 1 || len(toStaff) != 1 {
		t.Fatalf("tracking reply: %d mails to the partner, %d to staff; want 1 and 1", len(toPartner), len(toStaff))
	}
	ans := toPartner[0]
	if !slices.Contains(ans.InReplyTo, "fu-1@alfa-computers.gr") || !strings.Contains(ans.Text, "ACS 7012345678") ||
		!strings.Contains(ans.Text, "Καταχωρίσαμε") || !strings.Contains(ans.Text, number) {
		t.Errorf("tracking answer (In-Reply-To %v) does not confirm the tracking in Greek:\n%s", ans.InReplyTo, ans.Text)
	}
	if !strings.Contains(toStaff[0].Text, "ACS 7012345678") || !strings.Contains(toStaff[0].Text, number) {
		t.Errorf("staff mail does not say what was recorded:\n%s", toStaff[0].Text)
	}
	t.Logf("answer %q:\n%s\nstaff %q:\n%s", ans.Subject, ans.Text, toStaff[0].Subject, toStaff[0].Text)
	evs := partnerEvents(t, st, number)
	if len(evs) != 1 || evs[0].Actor != partnerAddr || evs[0].Extra["tracking"] != "ACS 7012345678" {
		t.Fatalf("history after the tracking reply: %+v", evs)
	}
	if strings.Contains(evs[0].Note, "RT-88812") || strings.Contains(evs[0].Note, ">") {
		t.Errorf("the note holds quoted text: %q", evs[0].Note)
	}
	if recs, err := st.ByTracking(ctx, "ACS 7012345678"); err != nil || len(recs) != 1 || recs[0].Number != number {
		t.Errorf("ByTracking: %v %v", recs, err)
	}

	// The same mail again (a retry after a crash, or fetched twice): nothing twice.
	if sent := h.deliver(ctx, t, "tracking reply again", trackingReply); len(sent) != 0 {
		t.Errorf("the same reply again sent %d mails", len(sent))
	}
	if evs := partnerEvents(t, st, number); len(evs) != 1 {
		t.Errorf("the same reply again: %d partner events, want 1", len(evs))
	}

	// 2. "Thank you" answering rmad's confirmation (References only): a note, staff told, no answer.
	sent = h.deliver(ctx, t, "thank you", followUpMail(partnerAddr, "fu-2@alfa-computers.gr", reSubject(ans.Subject),
		"", append(slices.Clone(thread), "fu-1@alfa-computers.gr", ans.MessageID), "Ευχαριστούμε πολύ!\n\n"+quote(ans.Text)))
	toPartner, toStaff = sentTo(t, sent, partnerAddr)
	if len(toPartner) != 0 || len(toStaff) != 1 {
		t.Fatalf("thank you: %d mails to the partner, %d to staff; want 0 and 1", len(toPartner), len(toStaff))
	}
	if !strings.Contains(toStaff[0].Text, "Ευχαριστούμε πολύ!") {
		t.Errorf("staff mail lacks the partner's text:\n%s", toStaff[0].Text)
	}
	evs = partnerEvents(t, st, number)
	if len(evs) != 2 || evs[1].Note != "Ευχαριστούμε πολύ!" || evs[1].Extra["tracking"] != "" {
		t.Fatalf("history after thank you: %+v", evs)
	}

	// 3. Outlook: no In-Reply-To or References, the number in the subject, the original below a
	// From:/Sent: block with its items: the tracking is recorded, no new RMA is opened.
	outlook := "Tracking number: DHL-55501\n\nFrom: RMA Service <rma@distributor.example>\nSent: Monday, November 2, 2026 10:00 AM\n" +
		"To: Alfa Computers <" + partnerAddr + ">\nSubject: " + reply.Subject + "\n\n" + reply.Text +
		"\nΚωδικός EAN: 5204001000013\nΣειριακός αριθμός: RT-99999\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή: δεν ανάβει\n"
	sent = h.deliver(ctx, t, "outlook reply", followUpMail(partnerAddr, "fu-3@alfa-computers.gr", "RE: "+reply.Subject, "", nil, outlook))
	toPartner, toStaff = sentTo(t, sent, partnerAddr)
	if len(toPartner) != 1 || len(toStaff) != 1 || !strings.Contains(toPartner[0].Text, "DHL-55501") {
		t.Fatalf("outlook reply: %d mails to the partner, %d to staff; want 1 and 1 confirming DHL-55501", len(toPartner), len(toStaff))
	}
	if evs = partnerEvents(t, st, number); len(evs) != 3 || evs[2].Extra["tracking"] != "DHL-55501" {
		t.Fatalf("history after the Outlook reply: %+v", evs)
	}

	// 4. A reply that only quotes the original items ("> " lines) with a question: a note, no
	// new submission.
	sent = h.deliver(ctx, t, "quoted items", followUpMail(partnerAddr, "fu-4@alfa-computers.gr", reSubject(reply.Subject),
		reply.MessageID, thread, "When will it be ready?\n\nOn Mon, 2 Nov 2026, RMA Service wrote:\n"+
			quote("Κωδικός EAN: 5204001000013\nΣειριακός αριθμός: RT-77777\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή: δεν ανάβει")))
	toPartner, _ = sentTo(t, sent, partnerAddr)
	if len(toPartner) != 0 {
		t.Errorf("a reply quoting the items was answered: %q\n%s", toPartner[0].Subject, toPartner[0].Text)
	}
	if evs = partnerEvents(t, st, number); len(evs) != 4 || evs[3].Note != "When will it be ready?" {
		t.Fatalf("history after the quoting reply: %+v", evs)
	}
	for _, serial := range []string{"RT-99999", "RT-77777"} {
		if recs, err := st.Lookup(ctx, "", serial); err != nil || len(recs) != 0 {
			t.Errorf("quoted serial %s opened an RMA: %v %v", serial, recs, err)
		}
	}

	// 5. Another partner names the number and even rmad's Message-ID: ordinary new mail, answered
	// as such, and the RMA is untouched and not described.
	const otherAddr = "rma@nova-it.ro"
	sent = h.deliver(ctx, t, "other partner", followUpMail(otherAddr, "fu-5@nova-it.ro", reSubject(reply.Subject),
		reply.MessageID, thread, "Tracking: STOLEN-1\n"))
	toOther, toStaff := sentTo(t, sent, otherAddr)
	if len(toOther) != 1 || len(toStaff) != 0 {
		t.Fatalf("other partner: %d mails to it, %d to staff; want 1 and 0", len(toOther), len(toStaff))
	}
	if strings.Contains(toOther[0].Text, "RT-88812") || strings.Contains(toOther[0].Text, "5204001000013") || strings.Contains(toOther[0].Text, "STOLEN-1") {
		t.Errorf("the other partner's answer tells about the RMA:\n%s", toOther[0].Text)
	}
	if evs = partnerEvents(t, st, number); len(evs) != 4 {
		t.Errorf("the other partner's mail changed the history: %+v", evs)
	}

	// 6. A command in a follow-up's subject is still a command.
	sent = h.deliver(ctx, t, "status in thread", followUpMail(partnerAddr, "fu-6@alfa-computers.gr", "Re: STATUS "+number,
		reply.MessageID, thread, "\n"))
	toPartner, _ = sentTo(t, sent, partnerAddr)
	if len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "DHL-55501") && !strings.Contains(toPartner[0].Text, number) {
		t.Errorf("STATUS in a thread: %d answers", len(toPartner))
	}
	if evs = partnerEvents(t, st, number); len(evs) != 4 {
		t.Errorf("the STATUS command was recorded as a note: %+v", evs)
	}
	h.checkNoDeadLetters(ctx, t)
}

// reSubject is the subject of a reply to a mail with subject s, as mail clients write it.
func reSubject(s string) string { return "Re: " + strings.TrimPrefix(s, "Re: ") }

// TestFollowUpCrashBetweenRecordAndAnswer: a worker that wrote the follow-up on the RMA and died
// before its answer was on the outbox is retried; the retry writes nothing twice and sends the
// answer.
func TestFollowUpCrashBetweenRecordAndAnswer(t *testing.T) {
	t.Parallel()
	h := startHarness(t)
	ctx := context.Background()
	st := h.st
	const partnerAddr = "service@alfa-computers.gr"
	orig, reply := submitRouter(ctx, t, h)
	replies := []sentMail{reply}
	number := ingest.SubjectNumbers(replies[0].Subject)[0]
	fu := followUpMail(partnerAddr, "fu-crash@alfa-computers.gr", reSubject(replies[0].Subject), replies[0].MessageID,
		[]string{orig.MessageID, replies[0].MessageID}, "AWB: 9988776655\n")
	// What the crashed attempt did: the event is written under the mail's once-key.
	sub, err := (&ingest.Parser{}).ParseMail(bytes.NewReader(fu))
	if err != nil {
		t.Fatal(err)
	}
	ev := rma.Event{At: fixturesDay, Actor: partnerAddr, Note: "AWB: 9988776655", Extra: map[string]string{"tracking": "9988776655"}}
	if ok, err := st.AddEventOnce(ctx, number, store.FollowUpKey(sub), ev); err != nil || !ok {
		t.Fatalf("pre-record: %v %v", ok, err)
	}
	toPartner, toStaff := sentTo(t, h.deliver(ctx, t, "retried follow-up", fu), partnerAddr)
	if len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "9988776655") || len(toStaff) != 1 {
		t.Fatalf("retry after the crash: %d answers to the partner, %d staff mails; want the answer and the staff mail", len(toPartner), len(toStaff))
	}
	if evs := partnerEvents(t, st, number); len(evs) != 1 {
		t.Errorf("the retry wrote the follow-up again: %+v", evs)
	}
}

// submitRouter delivers the Greek router submission (01) and returns it and rmad's one reply.
func submitRouter(ctx context.Context, t *testing.T, h *harness) (mailHeader, sentMail) {
	t.Helper()
	raw, err := os.ReadFile("../testdata/mails/01-gr-body-router.eml")
	if err != nil {
		t.Fatal(err)
	}
	orig := readHeader(t, "01", raw)
	replies := partnerReplies(t, orig, h.deliver(ctx, t, "submission", raw))
	if len(replies) != 1 {
		t.Fatalf("%d replies to the submission, want 1", len(replies))
	}
	return orig, replies[0]
}

// TestStaffCopyThread: the staff copy is in the partner mail's thread (In-Reply-To) and its Ref
// line names the partner mail's token, so a new RMA has two thread entries (the partner's mail
// under its token, and the reply's token) instead of three; the partner's answer to a staff
// answer written from the staff copy is still a follow-up, by its References and by the
// quoted Ref line alone.
func TestStaffCopyThread(t *testing.T) {
	t.Parallel()
	h := startHarness(t)
	ctx := context.Background()
	const partnerAddr = "service@alfa-computers.gr"
	raw, err := os.ReadFile("../testdata/mails/01-gr-body-router.eml")
	if err != nil {
		t.Fatal(err)
	}
	orig := readHeader(t, "01", raw)
	toPartner, toStaff := sentTo(t, h.deliver(ctx, t, "submission", raw), partnerAddr)
	if len(toPartner) != 1 || len(toStaff) != 1 {
		t.Fatalf("submission: %d mails to the partner, %d to staff; want 1 and 1", len(toPartner), len(toStaff))
	}
	staff := toStaff[0]
	if !slices.Contains(staff.InReplyTo, orig.MessageID) || !strings.Contains(staff.Text, rma.RefPrefix+rma.RefToken(orig.MessageID)) {
		t.Errorf("staff copy (In-Reply-To %v) not in the partner mail's thread:\n%s", staff.InReplyTo, staff.Text)
	}
	nums := ingest.SubjectNumbers(toPartner[0].Subject)
	if len(nums) != 1 {
		t.Fatalf("reply subject %q: want one RMA number", toPartner[0].Subject)
	}
	usage, err := store.MemoryUsage(ctx, h.rdb, h.prefix)
	if err != nil {
		t.Fatal(err)
	}
	entries := 0
	for _, u := range usage {
		if u.Kind == "tn" {
			entries = u.Keys
		}
	}
	if entries != 2 {
		t.Errorf("%d thread entries for one RMA, want 2", entries)
	}

	// Staff answered from the staff copy; the partner answers that (References as clients build them).
	const staffAnswer = "staff-answer-1@example.com"
	staffText := "Please send the router with the invoice.\n\n" + quote(staff.Text)
	sent := h.deliver(ctx, t, "answer to staff", followUpMail(partnerAddr, "sa-1@alfa-computers.gr", "RE: router",
		staffAnswer, []string{orig.MessageID, staff.MessageID, staffAnswer}, "Tracking number: ACS 7000000001\n\n"+quote(staffText)))
	if toPartner, _ = sentTo(t, sent, partnerAddr); len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "ACS 7000000001") {
		t.Fatalf("answer to staff: %d answers confirming ACS 7000000001", len(toPartner))
	}
	// A client that drops the headers: the quoted Ref line alone.
	sent = h.deliver(ctx, t, "answer to staff, no headers", followUpMail(partnerAddr, "sa-2@alfa-computers.gr", "RE: router",
		"", nil, "Tracking number: ACS 7000000002\n\n"+quote(staffText)))
	if toPartner, _ = sentTo(t, sent, partnerAddr); len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "ACS 7000000002") {
		t.Fatalf("answer to staff without headers: %d answers confirming ACS 7000000002", len(toPartner))
	}
	for _, trk := range []string{"ACS 7000000001", "ACS 7000000002"} {
		if recs, err := h.st.ByTracking(ctx, trk); err != nil || len(recs) != 1 || recs[0].Number != nums[0] {
			t.Errorf("ByTracking %s: %v %v; want %s", trk, recs, err, nums[0])
		}
	}
}
