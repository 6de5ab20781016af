package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
)

// deadQueue is an outbox whose n messages all failed for good with why.
func deadQueue(t *testing.T, n int, why string) *queue.Queue {
	t.Helper()
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = []byte("payload")
	}
	return deadQueueOf(t, queue.Outbox, payloads, why)
}

// deadQueueOf is a queue of stream whose messages (the payloads) all failed for good with why.
func deadQueueOf(t *testing.T, stream string, payloads [][]byte, why string) *queue.Queue {
	t.Helper()
	n := len(payloads)
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rc.Close() })
	q := queue.New(rc, "test:dl:"+randomToken()[:10]+":", queue.Options{Stream: stream, Group: "g", Consumer: "t"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, p := range payloads {
		if _, err := q.Add(ctx, p, map[string]string{"message_id": fmt.Sprintf("m%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		_ = q.Run(ctx, func(context.Context, queue.Message) error { return fmt.Errorf("%s: %w", why, queue.ErrPermanent) })
		close(done)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if k, _ := q.DeadLetterCount(ctx); k == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New("dead letters not filed"))
		}
	}
	cancel()
	<-done
	return q
}

func TestDeadLettersForAdminsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := deadQueue(t, 2, "550 mailbox <x@example.com> unknown")
	e.c.cfg.DeadLetters = []*queue.Queue{q}
	agent := e.signedIn("ann", annPassword)
	wantStatus(t, agent.get("/console/dead-letters"), http.StatusForbidden)
	wantStatus(t, agent.post("/console/dead-letters/retry", "all", "1"), http.StatusForbidden)
	wantNotIn(t, agent.get("/console/"), "/console/dead-letters")
	if k, _ := q.DeadLetterCount(t.Context()); k != 2 {
		t.Fatalf("an agent's retry went through: %d left", k)
	}

	admin := e.signedIn("root", rootPassword)
	p := admin.get("/console/dead-letters")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, "550 mailbox &lt;x@example.com&gt; unknown", "m0@example.com", "m1@example.com", "outbox")
	dls, _ := q.DeadLetters(t.Context(), 0)
	p = admin.post("/console/dead-letters/retry", "stream", dls[0].Stream, "id", dls[0].ID)
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, "Put back on their queue: 1")
	if k, _ := q.DeadLetterCount(t.Context()); k != 1 {
		t.Fatalf("after retrying one: %d left", k)
	}
	wantIn(t, admin.post("/console/dead-letters/retry", "all", "1"), "Put back on their queue: 1", "No dead letters.")
}

// An admin opens a dead letter of the inbox in a real browser and reads what rmad saw in the
// mail (the explain view); an outbox dead letter says there is no partner mail to explain; an
// agent cannot open either; an unknown one is a 404 page.
func TestBrowserDeadLetterExplained(t *testing.T) {
	eml, err := os.ReadFile("../../testdata/mails/02-ro-csv-cp1250.eml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withExplainer(t, 0))
	inbox := deadQueueOf(t, queue.Inbox, [][]byte{eml}, "commit: store unavailable for 10 attempts")
	outbox := deadQueue(t, 1, "550 5.1.1 mailbox unknown")
	e.c.cfg.DeadLetters = []*queue.Queue{inbox, outbox}
	dls, _ := inbox.DeadLetters(t.Context(), 0)
	odls, _ := outbox.DeadLetters(t.Context(), 0)

	agent := e.signedIn("ann", annPassword)
	wantStatus(t, agent.get("/console/dead-letters/inbox/"+dls[0].ID), http.StatusForbidden)
	admin := e.signedIn("root", rootPassword)
	wantStatus(t, admin.get("/console/dead-letters/inbox/1-1"), http.StatusNotFound)
	wantStatus(t, admin.get("/console/dead-letters/nosuch/"+dls[0].ID), http.StatusNotFound)
	p := admin.get("/console/dead-letters/outbox/" + odls[0].ID)
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, `id="dl-message"`, "no partner mail to explain", "550 5.1.1 mailbox unknown")
	wantNotIn(t, p, `id="explained"`)

	b := newBrowser(t)
	base := e.srv.URL
	b.signIn(base, "root", rootPassword)
	b.run("open the dead letter",
		chromedp.Click(`nav a[href="/console/dead-letters"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`table.dead-letters`, chromedp.ByQuery),
		chromedp.Click(`a.dl-open[href="/console/dead-letters/inbox/`+dls[0].ID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#explained`, chromedp.ByQuery),
	)
	if got := b.text(`#dl-why`); !strings.HasPrefix(got, "commit: store unavailable for 10 attempts") {
		t.Fatalf("why: %q", got)
	}
	got := b.text(`#explain-text`)
	for _, want := range []string{"kind:       submission", "P-RO-002", "ean_invalid"} {
		if !strings.Contains(got, want) {
			t.Errorf("explained lacks %q:\n%s", want, got)
		}
	}
	b.run("retry it from its page", chromedp.Click(`#retry-one`, chromedp.ByQuery), chromedp.WaitVisible(`#dl-done`, chromedp.ByQuery))
	if k, _ := inbox.DeadLetterCount(t.Context()); k != 0 {
		t.Fatalf("after retry: %d dead letters", k)
	}
	b.noErrors()
}
