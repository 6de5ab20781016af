package daemon

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
