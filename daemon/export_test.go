package daemon

import "context"

// OutboxMessageIDs lists the Message-IDs an outbox entry's payload holds, for the tests of
// package daemon_test.
func OutboxMessageIDs(payload []byte) ([]string, error) {
	job, err := decodeOutboxJob(payload)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(job.Messages))
	for i, m := range job.Messages {
		ids[i] = m.ID
	}
	return ids, nil
}

// QueueDepth is the depth of d's inbox or outbox (queue.Inbox, queue.Outbox): its entries not
// yet done, for the tests of package daemon_test.
func (d *Daemon) QueueDepth(ctx context.Context, stream string) (int64, error) {
	if stream == "outbox" {
		return d.outbox.Depth(ctx)
	}
	return d.inbox.Depth(ctx)
}
