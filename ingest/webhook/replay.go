package webhook

import (
	"context"
	"errors"
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
	// ProcessTimeout bounds the work a receiver does for one delivery.
	ProcessTimeout = 30 * time.Second
	// lockTTL keeps a delivery's locks as long as its answer, so that a first attempt can trust
	// a free lock to mean "never seen" without reading the answer first.
	lockTTL = ReplayTTL + time.Hour
	// StaleAfter is when a lock whose holder left no answer (it failed with a 5xx, or the
	// process died) may be taken over by a retry. It is longer than a receiver may work on a
	// delivery (ProcessTimeout), so a live holder is never overtaken.
	StaleAfter = 2 * ProcessTimeout
	// maxGenerations bounds the takeovers of one delivery (a sender retries about ten times).
	maxGenerations = 64
)

// lockStatus is the status stored in a lock; real answers are HTTP statuses, never 0.
const lockStatus = 0

// ErrInProgress is Acquire's answer when another attempt is applying the delivery right now:
// the sender should retry in a few seconds.
var ErrInProgress = errors.New("delivery in progress")

// Answer is a remembered answer to a delivery: an HTTP status and the body sent with it.
type Answer struct {
	Status int
	Body   []byte
}

// Guard makes "apply, then remember the answer" safe against duplicates with the store's
// set-once memory (RememberResponse, read with PeekResponse):
//
//   - the answer key ("webhook:<source>:<id>") holds the final answer for ReplayTTL;
//   - lock keys ("webhook-lock:<source>:<n>:<id>", n = 0, 1, ...) each hold the time an
//     attempt took the delivery.
//
// An attempt takes lock 0. If it was free, the delivery was never seen: apply it and store the
// answer. If it was taken, read the answer: there is one → send it again; there is none and
// the lock is recent → another attempt is applying it right now: ErrInProgress; the lock is
// stale (its holder failed or died) → try lock n+1.
//
// A takeover may apply a delivery that its failed holder had applied already. That is safe
// because applying is idempotent by the delivery id (the store replays a committed submission;
// a vendor status already in an RMA's history is not applied twice), and Complete keeps the
// first answer stored, so the answer stays the same too.
type Guard struct {
	Responses Responses
	Now       func() time.Time // wall clock for lock ages (not a request's injectable clock); nil: time.Now
}

// AnswerKey is the Responses key of a delivery's answer.
func AnswerKey(source, id string) string { return "webhook:" + source + ":" + id }

// lockKey puts n before the id, which may contain anything visible: keys cannot collide.
func lockKey(source, id string, n int) string {
	return "webhook-lock:" + source + ":" + strconv.Itoa(n) + ":" + id
}

func (g Guard) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// Acquire returns owned true when the caller may apply the delivery; otherwise the remembered
// answer to send again, or ErrInProgress.
func (g Guard) Acquire(ctx context.Context, source, id string) (prev Answer, owned bool, err error) {
	for n := range maxGenerations {
		now := g.now()
		_, took, seen, err := g.Responses.RememberResponse(ctx, lockKey(source, id, n), lockStatus,
			[]byte(strconv.FormatInt(now.UnixMilli(), 10)), lockTTL)
		if err != nil {
			return Answer{}, false, fmt.Errorf("delivery %s/%s: lock: %w", source, id, err)
		}
		if !seen {
			return Answer{}, true, nil
		}
		if prev, ok, err := g.recall(ctx, source, id); err != nil || ok {
			return prev, false, err
		}
		ms, err := strconv.ParseInt(string(took), 10, 64)
		if err == nil && now.Sub(time.UnixMilli(ms)) < StaleAfter {
			return Answer{}, false, ErrInProgress
		}
	}
	return Answer{}, false, fmt.Errorf("delivery %s/%s: %d failed attempts", source, id, maxGenerations)
}

// recall returns the remembered answer of a delivery, if there is one.
func (g Guard) recall(ctx context.Context, source, id string) (Answer, bool, error) {
	st, body, seen, err := g.Responses.PeekResponse(ctx, AnswerKey(source, id))
	if err != nil {
		return Answer{}, false, fmt.Errorf("delivery %s/%s: read answer: %w", source, id, err)
	}
	return Answer{Status: st, Body: body}, seen, nil
}

// Complete remembers a and returns what to send: a, or the answer stored first if a takeover
// let two attempts run.
func (g Guard) Complete(ctx context.Context, source, id string, a Answer) (Answer, error) {
	st, body, seen, err := g.Responses.RememberResponse(ctx, AnswerKey(source, id), a.Status, a.Body, ReplayTTL)
	if err != nil {
		return a, fmt.Errorf("delivery %s/%s: remember answer: %w", source, id, err)
	}
	if seen {
		return Answer{Status: st, Body: body}, nil
	}
	return a, nil
}
