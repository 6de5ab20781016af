package queue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Proof: a worker dies after reading an inbox entry and committing its submission, before
// acknowledging. Another worker reclaims the entry after the visibility timeout; its commit is
// a replay, so the submission has its numbers once.
func TestWorkerDiesBeforeAckSubmissionNumberedOnce(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":"
	st := store.New(c, prefix)
	ctx := context.Background()

	sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: "gr-net",
		Source: rma.Source{Channel: "mail", MessageID: "crash@example.com", RawSHA256: "00ff"},
		Items:  []rma.Item{{Line: 1, EAN: "5901234123457", Serial: "SN-CRASH", OwnNumber: "PO-1"}}}
	payload, _ := json.Marshal(sub)

	type result struct {
		who string
		out store.Outcome
	}
	results := make(chan result, 4)
	worker := func(who string, die bool) queue.Handler {
		return func(ctx context.Context, m queue.Message) error {
			var s rma.Submission
			if err := json.Unmarshal(m.Payload, &s); err != nil {
				return err
			}
			d := rma.Decision{Line: 1, Item: s.Items[0], Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse}}
			out, err := st.Commit(ctx, s, []rma.Decision{d}, time.Now())
			if err != nil {
				return err
			}
			results <- result{who, out}
			if die {
				<-ctx.Done() // the process is killed before it can acknowledge
				return ctx.Err()
			}
			return nil
		}
	}
	opt := func(name string) queue.Options {
		return queue.Options{Stream: queue.Inbox, Consumer: name, Block: 100 * time.Millisecond,
			VisibilityTimeout: 500 * time.Millisecond, BaseBackoff: 10 * time.Millisecond}
	}
	qa := queue.New(c, prefix, opt("worker-a"))
	if _, err := qa.Add(ctx, payload, nil); err != nil {
		t.Fatal(err)
	}
	ctxA, killA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { _ = qa.Run(ctxA, worker("a", true)); close(doneA) }()
	first := <-results
	killA()
	<-doneA

	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	qb := queue.New(c, prefix, opt("worker-b"))
	go func() { _ = qb.Run(ctxB, worker("b", false)) }()
	var second result
	select {
	case second = <-results:
	case <-time.After(10 * time.Second):
		t.Fatal("the dead worker's entry was not reclaimed")
	}
	if first.who != "a" || first.out.Replay || second.who != "b" || !second.out.Replay {
		t.Fatalf("first %s replay=%v, second %s replay=%v", first.who, first.out.Replay, second.who, second.out.Replay)
	}
	if n1, n2 := first.out.Decisions[0].Number, second.out.Decisions[0].Number; n1 == "" || n1 != n2 {
		t.Fatalf("numbers %q then %q", n1, n2)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d, _ := qb.Depth(ctx); d != 0; d, _ = qb.Depth(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("entry not acknowledged: depth %d", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := st.Lookup(ctx, "gr-net", "SN-CRASH")
	if err != nil || len(recs) != 1 {
		t.Fatalf("records for the serial: %d (%v)", len(recs), err)
	}
}
