package webhook

import (
	"context"
	"fmt"
	"time"
)

// Responses remembers the answer to a webhook delivery (store.Store implements it): the first
// call for a key stores status and body and reports seen false; later calls get the stored
// answer back with seen true. A stored value never changes until it expires.
type Responses interface {
	RememberResponse(ctx context.Context, key string, status int, body []byte, ttl time.Duration) (prevStatus int, prevBody []byte, seen bool, err error)
}

// Timings of the delivery memory.
const (
	// ReplayTTL is how long a delivery's answer is kept. Standard Webhooks senders retry for
	// about a day and a half; a week covers manual redeliveries from a vendor's dashboard too.
	ReplayTTL = 7 * 24 * time.Hour
	// lockTTL is how long a delivery is "in progress" for concurrent duplicates. It is longer
	// than a handler may run (processTimeout), so the lock cannot lapse under a live handler.
	// The store cannot delete it early, so after a failed (5xx) attempt the sender's retries
	// are answered 409 "in progress" until it lapses — retryable, like the 5xx itself.
	lockTTL = 60 * time.Second
	// probeTTL is the life of the placeholder a probe leaves behind (see guard.recall).
	probeTTL = time.Millisecond
	// processTimeout bounds the work for one request.
	processTimeout = 30 * time.Second
)

// probeStatus marks a probe placeholder; real answers are HTTP statuses, never 0.
const probeStatus = 0

// guard makes "apply, then remember the answer" safe against duplicates with the store's
// set-once memory, in two keys:
//
//   - the answer key ("webhook:<source>:<id>") holds the final answer for ReplayTTL;
//   - the lock key ("webhook-lock:<source>:<id>") marks a delivery in progress for lockTTL.
//
// recall reads the answer key. A set-once store cannot read without writing, so the read is a
// write of a placeholder that lives one millisecond: if an answer is there it comes back, and
// otherwise nothing lasting was written. Then lock takes the lock; whoever holds it applies the
// delivery, and complete stores the answer (waiting out a concurrent probe's placeholder).
// Duplicates that arrive meanwhile find the lock and get 409 "in progress".
//
// A lock can lapse after a crash, and then a retry applies again. That is safe because applying
// is itself idempotent by the delivery id (the store replays a committed submission; a vendor
// status already in an RMA's history is not applied twice), and complete keeps the first
// answer stored, so the answer stays the same too.
type guard struct {
	r     Responses
	sleep func(time.Duration)
}

func answerKey(source, id string) string { return "webhook:" + source + ":" + id }
func lockKey(source, id string) string   { return "webhook-lock:" + source + ":" + id }

// recall returns the remembered answer of a delivery, if there is one.
func (g guard) recall(ctx context.Context, source, id string) (answer, bool, error) {
	st, body, seen, err := g.r.RememberResponse(ctx, answerKey(source, id), probeStatus, nil, probeTTL)
	if err != nil {
		return answer{}, false, fmt.Errorf("delivery %s/%s: read answer: %w", source, id, err)
	}
	if seen && st != probeStatus {
		return replayed(st, body), true, nil
	}
	return answer{}, false, nil
}

// lock marks a delivery in progress; false (with the 409 to send) when it already is.
func (g guard) lock(ctx context.Context, source, id string) (answer, bool, error) {
	_, _, seen, err := g.r.RememberResponse(ctx, lockKey(source, id), probeStatus, nil, lockTTL)
	if err != nil {
		return answer{}, false, fmt.Errorf("delivery %s/%s: lock: %w", source, id, err)
	}
	if seen {
		a := pkInProgress.with(fmt.Sprintf("delivery %s is being processed right now; retry it in a few seconds and you will get its answer", id))
		a.retryAfter = 5
		return a, false, nil
	}
	return answer{}, true, nil
}

// complete remembers a's answer and returns what to send: a, or the answer stored first if a
// lapsed lock let two attempts run.
func (g guard) complete(ctx context.Context, source, id string, a answer) (answer, error) {
	const attempts = 50 // × 2 ms: a probe placeholder lives 1 ms
	for range attempts {
		st, body, seen, err := g.r.RememberResponse(ctx, answerKey(source, id), a.status, a.body, ReplayTTL)
		if err != nil {
			return a, fmt.Errorf("delivery %s/%s: remember answer: %w", source, id, err)
		}
		if !seen {
			return a, nil
		}
		if st != probeStatus {
			return replayed(st, body), nil
		}
		g.sleep(2 * probeTTL)
	}
	return a, fmt.Errorf("delivery %s/%s: answer key stayed busy with probes", source, id)
}
