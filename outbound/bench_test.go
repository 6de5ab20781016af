package outbound

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// BenchmarkSubmissionMails is what the worker composes for a one-item in-house submission, as
// rmadbench's mails are: the partner's reply, the staff copy and the reply's kept copy packed
// for the store (KeepMailIn on a pipeline that is never sent: the packing's CPU without
// Redis's). The labels PDF is rendered once, before the timer (the label package's
// benchmarks measure it): the memo serves it, as it serves the staff copy in the daemon.
func BenchmarkSubmissionMails(b *testing.B) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b)})
	defer rdb.Close()
	st := store.New(rdb, "bench:outbound:")
	c := testComposer()
	for _, locale := range []string{"en", "el"} {
		b.Run(locale, func(b *testing.B) {
			p := partners[locale]
			sub := submissionFor(locale, "RMA B-00042")
			sub.Items = []rma.Item{{Line: 1, EAN: archer.EAN, Serial: "SB-00042", OwnNumber: "B-00042", PurchaseDate: "2026-09-02",
				Description: "Does not power on after a firmware update, status LED stays dark."}}
			ds := []rma.Decision{inHouse(1, "RMA/42/SR/2026", archer, sub.Items[0])}
			numbers := []string{ds[0].Number}
			mails := func() {
				reply, err := c.Reply(sub, p, ds, now)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok, err := c.StaffCopy(sub, p, ds, now); err != nil || !ok {
					b.Fatal(ok, err)
				}
				k, err := c.Keep(reply)
				if err != nil {
					b.Fatal(err)
				}
				pipe := rdb.Pipeline()
				st.KeepMailIn(ctx, pipe, p.ID, numbers, k)
				pipe.Discard()
			}
			mails() // the labels PDF, the dictionary and its one write to Redis
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				mails()
			}
		})
	}
}
