package daemon_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/rma"
)

// submitFixture delivers a fixture mail and returns it and rmad's one reply to it.
func submitFixture(ctx context.Context, t *testing.T, h *harness, name string) (mailHeader, sentMail) {
	t.Helper()
	raw, err := os.ReadFile("../testdata/mails/" + name)
	if err != nil {
		t.Fatal(err)
	}
	orig := readHeader(t, name, raw)
	replies := partnerReplies(t, orig, h.deliver(ctx, t, name, raw))
	if len(replies) != 1 {
		t.Fatalf("%d replies to %s, want 1", len(replies), name)
	}
	return orig, replies[0]
}

// withoutClaims drops the claims rmad forwards to manufacturers (DJI's) from mails sent.
func withoutClaims(sent []sandbox.Mail) []sandbox.Mail {
	return slices.DeleteFunc(slices.Clone(sent), func(m sandbox.Mail) bool { return slices.Contains(m.To, "rma@dji.example") })
}

// csvRow returns the field col of rma-results.csv's row for item line (1-based).
func csvRow(t *testing.T, m sentMail, line int, col string) string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(m.CSV))
	if bytes.Count(m.CSV, []byte(";")) > bytes.Count(m.CSV, []byte(",")) {
		r.Comma = ';'
	}
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("%q: rma-results.csv unreadable (%v):\n%s", m.Subject, err, m.CSV)
	}
	i := slices.Index(rows[0], col)
	for _, row := range rows[1:] {
		if row[0] == strconv.Itoa(line) && i >= 0 && i < len(row) {
			return row[i]
		}
	}
	t.Fatalf("%q: no row for line %d in:\n%s", m.Subject, line, m.CSV)
	return ""
}

// TestFollowUpCompletesRejectedItems: the partner answers a reply that rejected an item with the
// field it lacked; the item is decided again with the original mail's values and proof, and
// accepted with a new number, answered like a submission. A second completion is a duplicate.
func TestFollowUpCompletesRejectedItems(t *testing.T) {
	t.Parallel()
	h := startHarness(t)
	ctx := context.Background()
	st := h.st

	// 1. A DJI drone without its serial: rejected. The answer gives the serial in its own text.
	const alfa = "service@alfa-computers.gr"
	orig, reply := submitFixture(ctx, t, h, "06-gr-dji-no-serial.eml")
	if got := csvRow(t, reply, 1, "result"); got != "rejected" {
		t.Fatalf("06 line 1: %s, want rejected", got)
	}
	sent := h.deliver(ctx, t, "serial completion", followUpMail("Alfa Computers <"+alfa+">", "fc-1@alfa-computers.gr",
		reSubject(reply.Subject), reply.MessageID, []string{orig.MessageID, reply.MessageID},
		"Καλημέρα,\n\nΣειριακός αριθμός: 1581F4QWE123\n\nΣτις 2/11/2026, RMA Service έγραψε:\n"+quote(reply.Text)+"\n"))
	toPartner, toStaff := sentTo(t, withoutClaims(sent), alfa)
	if len(toPartner) != 1 {
		t.Fatalf("serial completion: %d answers to the partner, want 1", len(toPartner))
	}
	ans := toPartner[0]
	nums := ingest.SubjectNumbers(ans.Subject)
	if len(nums) != 1 || csvRow(t, ans, 1, "result") != "accepted" || csvRow(t, ans, 1, "rma_number") != nums[0] {
		t.Fatalf("completion answer %q does not accept line 1 with a new number:\n%s\n%s", ans.Subject, ans.Text, ans.CSV)
	}
	if !slices.Contains(ans.InReplyTo, "fc-1@alfa-computers.gr") || !strings.Contains(ans.Text, nums[0]) {
		t.Errorf("completion answer (In-Reply-To %v) is not the acceptance:\n%s", ans.InReplyTo, ans.Text)
	}
	if len(toStaff) == 0 {
		t.Errorf("staff were not told about the completion")
	}
	rec, err := st.Get(ctx, nums[0])
	if err != nil {
		t.Fatal(err)
	}
	if rec.PartnerID != "P-GR-001" || rec.Decision.Item.Serial != "1581F4QWE123" || rec.Decision.Item.EAN != "6903466000031" ||
		!strings.Contains(rec.Decision.Item.Description, "gimbal") {
		t.Errorf("completed RMA holds %+v", rec.Decision.Item)
	}

	// 2. The same item completed again by another mail, with another serial: a duplicate of
	// the RMA it became, no new number.
	sent = h.deliver(ctx, t, "second completion", followUpMail(alfa, "fc-2@alfa-computers.gr", reSubject(reply.Subject),
		reply.MessageID, []string{orig.MessageID, reply.MessageID}, "Σειριακός αριθμός: 1581F4ZZZ999\n"))
	toPartner, _ = sentTo(t, sent, alfa)
	if len(toPartner) != 1 || csvRow(t, toPartner[0], 1, "result") != "duplicate" || csvRow(t, toPartner[0], 1, "rma_number") != nums[0] {
		t.Fatalf("second completion: %d answers, want one saying duplicate of %s", len(toPartner), nums[0])
	}
	if recs, err := st.Lookup(ctx, "", "1581F4ZZZ999"); err != nil || len(recs) != 0 {
		t.Errorf("the second completion opened an RMA: %v %v", recs, err)
	}

	// 3. Outlook without In-Reply-To/References and without a number in the subject: the
	// quoted reference line of rmad's reply names the thread. A wrong IBAN is still rejected
	// (the answer says what is missing); a right one is accepted.
	const cyprus = "returns@cyprusnet.example"
	orig17, reply17 := submitFixture(ctx, t, h, "17-fast-refund-no-iban.eml")
	if !strings.Contains(reply17.Text, rma.RefPrefix+rma.RefToken(reply17.MessageID)) {
		t.Fatalf("rmad's reply lacks its reference line:\n%s", reply17.Text)
	}
	outlook := func(id, iban string, quoted sentMail) []byte {
		return followUpMail(cyprus, id, "RE: "+quoted.Subject, "", nil, "IBAN: "+iban+"\n\n________________________________\n"+
			"From: RMA Service <rma@distributor.example>\nSent: Monday, November 2, 2026 10:00 AM\nTo: "+cyprus+"\nSubject: "+
			quoted.Subject+"\n\n"+quoted.Text+"\n")
	}
	sent = h.deliver(ctx, t, "wrong iban", outlook("fc-3@cyprusnet.example", "CY17 0020 0128 0000 0012 0052 7601", reply17))
	toPartner, _ = sentTo(t, sent, cyprus)
	if len(toPartner) != 1 || csvRow(t, toPartner[0], 1, "result") != "rejected" || !strings.Contains(csvRow(t, toPartner[0], 1, "codes"), "iban") {
		t.Fatalf("wrong IBAN: %d answers, want one rejecting line 1 for its IBAN", len(toPartner))
	}
	still := toPartner[0]
	t.Logf("still failing:\n%s", still.Text)
	// The partner answers that answer, again from Outlook, with the right IBAN.
	sent = h.deliver(ctx, t, "right iban", outlook("fc-4@cyprusnet.example", "CY17 0020 0128 0000 0012 0052 7600", still))
	toPartner, _ = sentTo(t, sent, cyprus)
	if len(toPartner) != 1 || csvRow(t, toPartner[0], 1, "result") != "accepted" {
		t.Fatalf("right IBAN: %d answers, want one accepting line 1", len(toPartner))
	}
	n17 := csvRow(t, toPartner[0], 1, "rma_number")
	if rec, err := st.Get(ctx, n17); err != nil || rec.Decision.Item.Serial != "RT-101" || !strings.HasPrefix(rec.Decision.Item.IBAN, "CY17") {
		t.Errorf("RMA %s after the IBAN: %+v %v", n17, rec.Decision.Item, err)
	}
	_ = orig17

	// 4. Another partner quoting the same reference line and naming the number: ordinary new
	// mail, no completion, nothing about the RMA.
	const nova = "rma@nova-it.ro"
	sent = h.deliver(ctx, t, "other partner's token", followUpMail(nova, "fc-5@nova-it.ro", "RE: "+reply17.Subject+" "+n17, "", nil,
		"IBAN: RO49 AAAA 1B31 0075 9384 0000\n\n> "+rma.RefPrefix+rma.RefToken(reply17.MessageID)+"\n"))
	toOther, toStaff := sentTo(t, sent, nova)
	if len(toOther) != 1 || len(toStaff) != 0 || strings.Contains(toOther[0].Text, "RT-101") || strings.Contains(toOther[0].Text, "5204001000013") ||
		strings.Contains(toOther[0].Text, "TP-Link") || len(toOther[0].CSV) > 0 && strings.Contains(string(toOther[0].CSV), "RT-101") {
		t.Fatalf("other partner: %d answers, %d staff mails; want 1 and 0 without the RMA:\n%v", len(toOther), len(toStaff), toOther)
	}
	if evs := partnerEvents(t, st, n17); len(evs) != 0 {
		t.Errorf("the other partner's mail wrote on %s: %+v", n17, evs)
	}
	h.checkNoDeadLetters(ctx, t)
}

// twoRouters is a Greek submission of two routers with its invoice: two RMAs in one thread.
func twoRouters(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("../testdata/mails/01-gr-body-router.eml")
	if err != nil {
		t.Fatal(err)
	}
	const boundary = "--===============7886328394093027240=="
	parts := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), boundary)
	if len(parts) < 3 {
		t.Fatal("01 is not multipart as expected")
	}
	body := "Κωδικός EAN: 5204001000013\nΣειριακός αριθμός: RT-50001\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή: δεν ανάβει καθόλου μετά από διακοπή ρεύματος\n" +
		"---\nΚωδικός EAN: 5204001000013\nΣειριακός αριθμός: RT-50002\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή: χάνει τη σύνδεση WiFi κάθε λίγα λεπτά\n"
	mail := strings.Replace(parts[0], "pub-1-a1@", "two-routers@", 1) + boundary +
		"\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body + "\n" + boundary + parts[2] + boundary + "--\n"
	return []byte(strings.ReplaceAll(mail, "\n", "\r\n"))
}

// TestFollowUpFieldsInThreadOfSeveralRMAs: parcel fields (tracking, contents) go to every RMA
// of the thread; an item field (serial, IBAN) naming no RMA goes to none and the answer asks
// which; under an RMA number it goes to that one. With conversation.acknowledge, free text
// gets a short acknowledgement.
func TestFollowUpFieldsInThreadOfSeveralRMAs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.cfg.Conversation.Acknowledge = true
	h.start(t)
	ctx := context.Background()
	st := h.st
	const alfa = "service@alfa-computers.gr"
	raw := twoRouters(t)
	orig := readHeader(t, "two routers", raw)
	replies := partnerReplies(t, orig, h.deliver(ctx, t, "two routers", raw))
	if len(replies) != 1 {
		t.Fatalf("%d replies, want 1", len(replies))
	}
	reply := replies[0]
	nums := ingest.SubjectNumbers(reply.Subject)
	if len(nums) != 2 {
		t.Fatalf("reply %q: want two RMA numbers", reply.Subject)
	}
	thread := []string{orig.MessageID, reply.MessageID}

	sent := h.deliver(ctx, t, "fields", followUpMail(alfa, "ff-1@alfa-computers.gr", reSubject(reply.Subject), reply.MessageID, thread,
		"Αριθμός αποστολής: ACS 111\nΠεριεχόμενα: τροφοδοτικό\nΣειριακός αριθμός: RT-X\nIBAN: GR16 0110 1250 0000 0001 2300 695\n\n"+
			nums[1]+":\nΣειριακός αριθμός: RT-50002B\n\n"+quote(reply.Text)))
	toPartner, toStaff := sentTo(t, sent, alfa)
	if len(toPartner) != 1 || len(toStaff) != 1 {
		t.Fatalf("fields: %d answers, %d staff mails; want 1 and 1", len(toPartner), len(toStaff))
	}
	ans := toPartner[0].Text
	t.Logf("answer:\n%s\nstaff:\n%s", ans, toStaff[0].Text)
	for _, want := range []string{"ACS 111", "τροφοδοτικό", nums[0] + ", " + nums[1], "Δεν καταχωρίσαμε", "RT-X", "GR16", "RT-50002B"} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q", want)
		}
	}
	for i, n := range nums {
		evs := partnerEvents(t, st, n)
		if len(evs) != 1 {
			t.Fatalf("%s: %d partner events, want 1", n, len(evs))
		}
		x := evs[0].Extra
		if x["tracking"] != "ACS 111" || x["contents"] != "τροφοδοτικό" || x["iban"] != "" {
			t.Errorf("%s: recorded %v", n, x)
		}
		if want := map[int]string{0: "", 1: "RT-50002B"}[i]; x["serial"] != want {
			t.Errorf("%s: serial %q recorded, want %q", n, x["serial"], want)
		}
		if recs, err := st.ByTracking(ctx, "ACS 111"); err != nil || len(recs) != 2 {
			t.Errorf("ByTracking: %d records, %v", len(recs), err)
		}
	}

	// Free text with conversation.acknowledge: a note and a short acknowledgement.
	sent = h.deliver(ctx, t, "thanks", followUpMail(alfa, "ff-2@alfa-computers.gr", reSubject(reply.Subject), reply.MessageID, thread,
		"Ευχαριστούμε!\n"))
	toPartner, toStaff = sentTo(t, sent, alfa)
	if len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "Ευχαριστούμε για το μήνυμά σας") || len(toStaff) != 1 {
		t.Fatalf("thanks with acknowledge on: %d answers, %d staff mails", len(toPartner), len(toStaff))
	}
	if evs := partnerEvents(t, st, nums[0]); len(evs) != 2 || evs[1].Note != "Ευχαριστούμε!" {
		t.Errorf("history after thanks: %+v", evs)
	}
	h.checkNoDeadLetters(ctx, t)
}

// TestFollowUpFieldsAndCompletionOneAnswer: a reply that gives a tracking number for the
// thread's RMAs and completes the item the same reply rejected gets one answer in the
// partner's language that accepts the item and says what was recorded; a retry of the mail's
// processing (a crash before the ack) records nothing twice and sends that answer once, under
// its one Message-ID.
func TestFollowUpFieldsAndCompletionOneAnswer(t *testing.T) {
	t.Parallel()
	h := startHarness(t)
	ctx := context.Background()
	st := h.st
	const nova = "rma@nova-it.ro"
	// 02: lines 1 and 3 accepted, line 2 rejected for its EAN's check digit.
	orig, reply := submitFixture(ctx, t, h, "02-ro-csv-cp1250.eml")
	nums := ingest.SubjectNumbers(reply.Subject)
	if len(nums) != 2 || csvRow(t, reply, 2, "result") != "rejected" {
		t.Fatalf("02: reply %q, want two RMAs and line 2 rejected", reply.Subject)
	}
	fu := followUpMail("Nova IT <"+nova+">", "fb-1@nova-it.ro", reSubject(reply.Subject), reply.MessageID,
		[]string{orig.MessageID, reply.MessageID},
		"Bună ziua,\n\nAWB: FAN 5550001\n\nPoziția 2\nEAN: 5204001000013\n\nPe lun., 2 nov. 2026, RMA Service a scris:\n"+quote(reply.Text)+"\n")
	toPartner, _ := sentTo(t, h.deliver(ctx, t, "tracking and completion", fu), nova)
	if len(toPartner) != 1 {
		t.Fatalf("tracking and completion: %d answers to the partner, want 1", len(toPartner))
	}
	ans := toPartner[0]
	t.Logf("answer %q:\n%s", ans.Subject, ans.Text)
	newNum := csvRow(t, ans, 2, "rma_number")
	if csvRow(t, ans, 2, "result") != "accepted" || newNum == "" || slices.Contains(nums, newNum) {
		t.Fatalf("line 2 not accepted with a new number: %q\n%s", newNum, ans.CSV)
	}
	for _, want := range []string{"FAN 5550001", nums[0] + ", " + nums[1], newNum, "Vă mulțumim"} {
		if !strings.Contains(ans.Text, want) {
			t.Errorf("answer lacks %q", want)
		}
	}
	for _, n := range nums {
		if evs := partnerEvents(t, st, n); len(evs) != 1 || evs[0].Extra["tracking"] != "FAN 5550001" {
			t.Errorf("%s: partner events %+v, want the tracking once", n, evs)
		}
	}

	// The same mail's processing again, as after a crash before its ack: the inbox entry is
	// handled anew (the same mail fetched again), nothing is recorded twice, no new number, and
	// the answer (the same Message-ID) is not mailed again.
	sent := h.deliver(ctx, t, "the same follow-up again", fu)
	if again, _ := sentTo(t, sent, nova); len(again) != 0 {
		t.Errorf("processed again: %d more answers (%q), want none", len(again), again[0].MessageID)
	}
	for _, n := range nums {
		if evs := partnerEvents(t, st, n); len(evs) != 1 {
			t.Errorf("%s after the retry: %d partner events, want 1", n, len(evs))
		}
	}
	if recs, err := st.Lookup(ctx, "P-RO-002", "RT-1002"); err != nil || len(recs) != 1 {
		t.Errorf("RT-1002 after the retry: %d RMAs, %v; want 1", len(recs), err)
	}
	h.checkNoDeadLetters(ctx, t)
}
