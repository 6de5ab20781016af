package webhook

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Responses remembers the answer to a webhook delivery (store.Store implements it): the first
// RememberResponse for a key stores status and body and reports seen false; later calls get the
// stored answer back with seen true. A stored value never changes until it expires.
// PeekResponse reads it without storing anything.
type Responses interface {
	RememberResponse(ctx context.Context, key string, status int, body []byte, ttl time.Duration) (prevStatus int, prevBody []byte, seen bool, err error)
	PeekResponse(ctx context.Context, key string) (status int, body []byte, seen bool, err error)
}

// Timings of the delivery memory.
const (
	// ReplayTTL is how long a delivery's answer is kept. Standard Webhooks senders retry for
	// about a day and a half; a week covers manual redeliveries from a vendor's dashboard too.
	ReplayTTL = 7 * 24 * time.Hour
	// lockTTL keeps a delivery's locks as long as its answer, so that a first attempt can trust
	// a free lock to mean "never seen" without reading the answer first.
	lockTTL = ReplayTTL + time.Hour
	// staleAfter is when a lock whose holder left no answer (it failed with a 5xx, or the
	// process died) may be taken over by a retry. It is longer than a handler may run
	// (processTimeout), so a live holder is never overtaken.
	staleAfter = 2 * processTimeout
	// maxGenerations bounds the takeovers of one delivery (a sender retries about ten times).
	maxGenerations = 64
	// processTimeout bounds the work for one request.
	processTimeout = 30 * time.Second
)

// lockStatus is the status stored in a lock; real answers are HTTP statuses, never 0.
const lockStatus = 0

// guard makes "apply, then remember the answer" safe against duplicates with the store's
// set-once memory (RememberResponse, read with PeekResponse):
//
//   - the answer key ("webhook:<source>:<id>") holds the final answer for ReplayTTL;
//   - lock keys ("webhook-lock:<source>:<n>:<id>", n = 0, 1, ...) each hold the time an
//     attempt took the delivery.
//
// An attempt takes lock 0. If it was free, the delivery was never seen: apply it and store the
// answer. If it was taken, read the answer: there is one → send it again; there is none and
// the lock is recent → another attempt is applying it right now: 409 "in progress, retry";
// the lock is stale (its holder failed or died) → try lock n+1.
//
// A takeover may apply a delivery that its failed holder had applied already. That is safe
// because applying is idempotent by the delivery id (the store replays a committed submission;
// a vendor status already in an RMA's history is not applied twice), and complete keeps the
// first answer stored, so the answer stays the same too.
type guard struct {
	r   Responses
	now func() time.Time // wall clock for lock ages (not the injectable request clock)
}

func answerKey(source, id string) string { return "webhook:" + source + ":" + id }

// lockKey puts n before the id, which may contain anything visible: keys cannot collide.
func lockKey(source, id string, n int) string {
	return "webhook-lock:" + source + ":" + strconv.Itoa(n) + ":" + id
}

// acquire returns owned true when the caller may apply the delivery; otherwise the answer to
// send (the remembered one, or 409 in progress).
func (g guard) acquire(ctx context.Context, source, id string) (answer, bool, error) {
	for n := range maxGenerations {
		now := g.now()
		_, took, seen, err := g.r.RememberResponse(ctx, lockKey(source, id, n), lockStatus,
			[]byte(strconv.FormatInt(now.UnixMilli(), 10)), lockTTL)
		if err != nil {
			return answer{}, false, fmt.Errorf("delivery %s/%s: lock: %w", source, id, err)
		}
		if !seen {
			return answer{}, true, nil
		}
		if prev, ok, err := g.recall(ctx, source, id); err != nil || ok {
			return prev, false, err
		}
		ms, err := strconv.ParseInt(string(took), 10, 64)
		if err == nil && now.Sub(time.UnixMilli(ms)) < staleAfter {
			return g.busy(id), false, nil
		}
	}
	return g.busy(id), false, fmt.Errorf("delivery %s/%s: %d failed attempts", source, id, maxGenerations)
}

func (g guard) busy(id string) answer {
	a := pkInProgress.with(fmt.Sprintf("delivery %s is being processed right now; retry it in a few seconds and you will get its answer", id))
	a.retryAfter = 5
	return a
}

// recall returns the remembered answer of a delivery, if there is one.
func (g guard) recall(ctx context.Context, source, id string) (answer, bool, error) {
	st, body, seen, err := g.r.PeekResponse(ctx, answerKey(source, id))
	if err != nil {
		return answer{}, false, fmt.Errorf("delivery %s/%s: read answer: %w", source, id, err)
	}
	if seen {
		return replayed(st, body), true, nil
	}
	return answer{}, false, nil
}

// complete remembers a's answer and returns what to send: a, or the answer stored first if a
// takeover let two attempts run.
func (g guard) complete(ctx context.Context, source, id string, a answer) (answer, error) {
	st, body, seen, err := g.r.RememberResponse(ctx, answerKey(source, id), a.status, a.body, ReplayTTL)
	if err != nil {
		return a, fmt.Errorf("delivery %s/%s: remember answer: %w", source, id, err)
	}
	if seen {
		return replayed(st, body), nil
	}
	return a, nil
}
