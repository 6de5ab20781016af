package daemon

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	"github.com/rmad/rmad/outbound"
)

// Format 2 round-trips the messages byte for byte (the raw bytes unencoded after the header
// line) and format 1, what versions before it queued, still decodes; bad entries are errors.
func TestOutboxJobFormat(t *testing.T) {
	msgs := []outbound.Message{
		{ID: "reply.1@d.example", From: "rma@d.example", To: []string{"a@p.example"}, Raw: []byte("Subject: x\r\n\r\n{\"not\":\"json\"}\n\xff\r\n")},
		{ID: "staff.1@d.example", From: "rma@d.example", To: []string{"s@d.example", "t@d.example"}, Raw: []byte("Subject: y\r\n\r\nstaff\r\n")},
	}
	b, err := encodeOutboxJob(outboxJob{Messages: msgs, Enqueued: "1764600000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, append(slices.Clone(msgs[0].Raw), msgs[1].Raw...)) {
		t.Fatalf("raw bytes not stored as they are: %q", b)
	}
	job, err := decodeOutboxJob(b)
	if err != nil {
		t.Fatal(err)
	}
	if job.Enqueued != "1764600000000000000" || len(job.Messages) != 2 {
		t.Fatalf("decoded %+v", job)
	}
	for i, m := range job.Messages {
		w := msgs[i]
		if m.ID != w.ID || m.From != w.From || !slices.Equal(m.To, w.To) || !bytes.Equal(m.Raw, w.Raw) {
			t.Errorf("message %d: %+v, want %+v", i, m, w)
		}
	}

	// Format 1: one message as JSON, its raw bytes base64.
	v1 := `{"message":{"id":"reply.0@d.example","from":"rma@d.example","to":["a@p.example"],"raw":"` +
		base64.StdEncoding.EncodeToString(msgs[0].Raw) + `"},"enqueued":"17"}`
	job, err = decodeOutboxJob([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Messages) != 1 || job.Messages[0].ID != "reply.0@d.example" || !bytes.Equal(job.Messages[0].Raw, msgs[0].Raw) || job.Enqueued != "17" {
		t.Fatalf("format 1 decoded as %+v", job)
	}

	for _, bad := range []string{
		"", "{", `{"enqueued":"1"}`, outboxMagic, outboxMagic + "{}\n", outboxMagic + `{"messages":[]}` + "\n",
		outboxMagic + `{"messages":[{"id":"a","size":5}]}` + "\nabc",
		outboxMagic + `{"messages":[{"id":"a","size":2}]}` + "\nabc",
		outboxMagic + `{"messages":[{"id":"a","size":-1}]}` + "\n",
		outboxMagic + `{"messages":[{"id":"","size":0}]}` + "\n",
	} {
		if _, err := decodeOutboxJob([]byte(bad)); err == nil {
			t.Errorf("decodeOutboxJob(%q) succeeded", bad)
		}
	}
	if _, err := encodeOutboxJob(outboxJob{}); err == nil {
		t.Error("a job without messages was encoded")
	}
}

// Any payload decodes to messages that lie inside it, or to an error; never a panic.
func FuzzDecodeOutboxJob(f *testing.F) {
	b, _ := encodeOutboxJob(outboxJob{Messages: []outbound.Message{{ID: "a", Raw: []byte("xy")}, {ID: "b", Raw: []byte("z")}}})
	f.Add(b)
	v1, _ := json.Marshal(legacyOutboxJob{Message: outbound.Message{ID: "a", Raw: []byte("xy")}})
	f.Add(v1)
	f.Fuzz(func(t *testing.T, p []byte) {
		job, err := decodeOutboxJob(p)
		if err != nil {
			return
		}
		total := 0
		for _, m := range job.Messages {
			if m.ID == "" {
				t.Fatalf("message without id from %q", p)
			}
			total += len(m.Raw)
		}
		if bytes.HasPrefix(p, []byte(outboxMagic)) && total > len(p) {
			t.Fatalf("%d raw bytes from a %d-byte payload", total, len(p))
		}
	})
}
