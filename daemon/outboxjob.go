package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rmad/rmad/outbound"
)

// outboxJob is an outbox entry: the composed messages of one trigger (a partner's reply, its
// staff copy and the claims forwarded to manufacturers) and when the trigger arrived. The
// courier sends them in order, each once per Message-ID.
type outboxJob struct {
	Messages []outbound.Message
	Enqueued string // unix nanoseconds of the trigger, for the reply latency of Messages[0]
}

// An entry's payload (outbox format 2) is a header line, then each message's raw bytes one
// after the other, unencoded:
//
//	rmad-outbox/2\n
//	{"enqueued":"…","messages":[{"id":"…","from":"…","to":["…"],"size":1234},…]}\n
//	<size bytes of message 1><size bytes of message 2>…
//
// so a raw mail is neither base64-encoded nor escaped on the way in, nor decoded on the way
// out: the courier sends slices of the stream entry's bytes. Versions before it wrote one
// message per entry as JSON, the raw bytes base64 inside ({"message":{…,"raw":"…"},
// "enqueued":"…"}); decodeOutboxJob still reads those, so entries queued before an upgrade are
// delivered after it.
const outboxMagic = "rmad-outbox/2\n"

type jobHeader struct {
	Enqueued string      `json:"enqueued,omitempty"`
	Messages []jobMsgRef `json:"messages"`
}

type jobMsgRef struct {
	ID   string   `json:"id"`
	From string   `json:"from"`
	To   []string `json:"to"`
	Size int      `json:"size"`
}

// legacyOutboxJob is outbox format 1.
type legacyOutboxJob struct {
	Message  outbound.Message `json:"message"`
	Enqueued string           `json:"enqueued,omitempty"`
}

// encodeOutboxJob writes job in outbox format 2.
func encodeOutboxJob(job outboxJob) ([]byte, error) {
	if len(job.Messages) == 0 {
		return nil, errors.New("outbox job without messages")
	}
	h := jobHeader{Enqueued: job.Enqueued, Messages: make([]jobMsgRef, len(job.Messages))}
	size := 0
	for i, m := range job.Messages {
		h.Messages[i] = jobMsgRef{ID: m.ID, From: m.From, To: m.To, Size: len(m.Raw)}
		size += len(m.Raw)
	}
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(outboxMagic)+len(head)+1+size)
	b = append(b, outboxMagic...)
	b = append(b, head...)
	b = append(b, '\n')
	for _, m := range job.Messages {
		b = append(b, m.Raw...)
	}
	return b, nil
}

// decodeOutboxJob reads an entry of either outbox format. The messages' Raw share p's memory.
func decodeOutboxJob(p []byte) (outboxJob, error) {
	rest, ok := bytes.CutPrefix(p, []byte(outboxMagic))
	if !ok {
		var old legacyOutboxJob
		if err := json.Unmarshal(p, &old); err != nil {
			return outboxJob{}, err
		}
		if old.Message.ID == "" {
			return outboxJob{}, errors.New("format 1 entry without a message")
		}
		return outboxJob{Messages: []outbound.Message{old.Message}, Enqueued: old.Enqueued}, nil
	}
	line, body, ok := bytes.Cut(rest, []byte{'\n'})
	if !ok {
		return outboxJob{}, errors.New("format 2 entry without its header line")
	}
	var h jobHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return outboxJob{}, fmt.Errorf("format 2 header: %w", err)
	}
	if len(h.Messages) == 0 {
		return outboxJob{}, errors.New("format 2 entry without messages")
	}
	job := outboxJob{Enqueued: h.Enqueued, Messages: make([]outbound.Message, len(h.Messages))}
	for i, r := range h.Messages {
		if r.ID == "" || r.Size < 0 || r.Size > len(body) {
			return outboxJob{}, fmt.Errorf("format 2 message %d: id %q, %d bytes of %d left", i+1, r.ID, r.Size, len(body))
		}
		job.Messages[i] = outbound.Message{ID: r.ID, From: r.From, To: r.To, Raw: body[:r.Size:r.Size]}
		body = body[r.Size:]
	}
	if len(body) != 0 {
		return outboxJob{}, fmt.Errorf("format 2 entry: %d bytes after its last message", len(body))
	}
	return job, nil
}
