package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// The thread index maps the Message-IDs of an RMA conversation to its RMA numbers, so that a
// partner's reply (In-Reply-To, References) is recognised as a follow-up of those RMAs. Each
// entry is a set P{p:<partner>}:thread:<digest of the Message-ID> in the partner's slot: a
// look-up only ever sees the sender's own partner's threads, so another partner's mail that
// quotes a Message-ID learns nothing.

// ThreadTTL is how long a thread entry lives after it was last written or read: RMAs are
// usually closed well within it, and every use of the thread renews it.
const ThreadTTL = 180 * 24 * time.Hour

func (k keys) thread(partner, messageID string) string {
	return k.partner(partner) + "thread:" + shortHash(normMessageID(messageID))
}

func normMessageID(id string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(id), "<>"))
}

// IndexThread records that the mails messageIDs (rmad's replies, answers and staff copies, and
// the partner mail they answer) belong to the thread of the partner's RMAs numbers. Indexing
// again adds to the thread and renews it.
func (s *Store) IndexThread(ctx context.Context, partner string, numbers []string, messageIDs ...string) error {
	if len(numbers) == 0 {
		return nil
	}
	members := make([]any, len(numbers))
	for i, n := range numbers {
		members[i] = n
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range messageIDs {
			if normMessageID(id) == "" {
				continue
			}
			k := s.k.thread(partner, id)
			p.SAdd(ctx, k, members...)
			p.Expire(ctx, k, ThreadTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index thread of %s: %w", strings.Join(numbers, ","), err)
	}
	return nil
}

// ThreadNumbers returns the RMA numbers of the partner's threads that messageIDs belong to
// (none when no id is indexed), in number order, and renews the entries found.
func (s *Store) ThreadNumbers(ctx context.Context, partner string, messageIDs []string) ([]string, error) {
	var ks []string
	for _, id := range messageIDs {
		if normMessageID(id) != "" {
			ks = append(ks, s.k.thread(partner, id))
		}
	}
	if len(ks) == 0 {
		return nil, nil
	}
	nums, err := s.c.SUnion(ctx, ks...).Result()
	if err != nil {
		return nil, fmt.Errorf("thread look-up: %w", err)
	}
	if len(nums) == 0 {
		return nil, nil
	}
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range ks {
			p.Expire(ctx, k, ThreadTTL)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("thread renew: %w", err)
	}
	slices.SortFunc(nums, func(a, b string) int {
		x, _ := rma.ParseNumber(a)
		y, _ := rma.ParseNumber(b)
		if x.Year != y.Year {
			return x.Year - y.Year
		}
		return x.N - y.N
	})
	return nums, nil
}

// FollowUpKey is the once-key (AddEventOnce) under which a follow-up mail is written on each RMA
// of its thread: the same mail, retried after a crash or fetched twice, is written once.
func FollowUpKey(sub rma.Submission) string { return "followup:" + shortHash(SubmissionKey(sub)) }
