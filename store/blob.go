package store

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	kflate "github.com/klauspost/compress/flate"
)

// Records, stored outcomes and compacted RMAs keep their JSON deflated with a preset
// dictionary of rmad's own field names and values: a decision's JSON is mostly its field names,
// so a 900-byte decision with its source packs into about a third. The dictionary is part of
// the stored format: blobV1 values are read with exactly this dictionary forever; another one
// needs a new version tag.

// blobV1 starts every packed value; JSON (the older, unpacked form) starts with '{' or '['.
const blobV1 = "\x00z1"

// blobDict is the preset dictionary of blobV1. Most used last: deflate finds near matches
// more cheaply.
var blobDict = []byte(`"vendor_ticket""forward""vendor_direct""rejected""duplicate""redirected"` +
	`"problems":[{"code":"","field":"","params":{"notes":[{"key":"","params":{` +
	`"extra":{"source":"webhook "note":"staff:"actor":"cli""vendor:"tracking"` +
	`"portal":"helpdesk":"forward_to":"fault_types":["bulk":false,"bulk":true,` +
	`"tracking":"contents":"vendor_ticket":"iban":"receiver_pays":"expectation":"fault_type":"quantity":"` +
	`{"key":"","at":"","decisions":[{"line":1,"item":{"line":1,"ean":"","serial":"","purchase_date":"2026-` +
	`","description":"","own_number":"","claim_type":"defective"},"result":"accepted","route":{"handling":"in_house"},` +
	`"warranty":{"status":"in","until":"2026-01-01T00:00:00Z"},"product":{"ean":"","brand":"","model":"",` +
	`"warranty_months":24,"fault_types":[""],"bulk":false},"claim_type":"defective","quantity":1,` +
	`"purchase":"2026-01-01T00:00:00Z","number":"RMA//SR/2026"}` +
	`{"channel":"mail","mailbox":"","uid_validity":,"uid":,"message_id":"","raw_sha256":"` +
	`{"number":"RMA//SR/2026","partner_id":"","decision":{"line":1,"item":{"line":1,"ean":"","serial":"",` +
	`"status":"awaiting_goods","created_at":"2026-","updated_at":"2026-","source":{"channel":"mail",` +
	`"history":[{"at":"2026-","status":"awaiting_goods","actor":"rmad","extra":{"source":"mail <`)

// packJSON marshals v and deflates it with the dictionary.
func packJSON(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(blobV1) + len(js)/2)
	b.WriteString(blobV1)
	w := packWriter()
	defer releasePackWriter(w)
	w.ResetDict(&b, blobDict)
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Packed values (records, kept mails) are deflated by klauspost/compress's writers at its
// level 5: the standard library's at level 9 spent twice the CPU (about 50 µs for a one-item
// record, 150 µs for a kept reply without a dictionary) for values of the same size within 1 %
// (that record 203 B against 200, a kept reply 1,777 against 1,786), and its writer at level 6
// with a kept mail's dictionary two to three times the CPU (most of it hashing the dictionary
// into tables it clears for every copy, 640 KB) for copies 4 % smaller. A writer holds hundreds
// of KB of tables, so one per value made a 10,000-item commit allocate gigabytes; they are
// reused, each taking its value's dictionary at the reset (ResetDict), so every dictionary
// shares them. packSpare keeps two across garbage collections, which empty a sync.Pool (its
// victim cache lasts one more): the daemon collects every few mails, and a writer made anew is
// a megabyte allocated and cleared for a value of a few KB. The pool holds those more workers
// need at once.
var (
	packSpare   = make(chan *kflate.Writer, 2)
	packWriters = sync.Pool{New: func() any {
		w, err := kflate.NewWriter(io.Discard, packLevel)
		if err != nil {
			panic(err) // only for an invalid level, a constant here
		}
		return w
	}}
)

func packWriter() *kflate.Writer {
	select {
	case w := <-packSpare:
		return w
	default:
		return packWriters.Get().(*kflate.Writer)
	}
}

func releasePackWriter(w *kflate.Writer) {
	select {
	case packSpare <- w:
	default:
		packWriters.Put(w)
	}
}

const packLevel = 5

// maxBlobJSON bounds what one packed value may inflate to: no record comes near it, and a
// damaged value cannot make a reader allocate without bound.
const maxBlobJSON = 64 << 20

// unpackJSON reads a packJSON value, or plain JSON as older versions stored it, into v.
func unpackJSON(data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte(blobV1))
	if !ok {
		return json.Unmarshal(data, v)
	}
	return inflateJSON(rest, blobDict, v)
}

// inflateJSON decodes JSON deflated with preset dictionary dict into v, at most maxBlobJSON
// bytes of it (a corrupt or hostile value cannot make it allocate without bound).
func inflateJSON(packed, dict []byte, v any) error {
	js, err := inflate(packed, dict)
	if err != nil {
		return err
	}
	return json.Unmarshal(js, v)
}

// inflate decodes a deflate stream with preset dictionary dict, at most maxBlobJSON bytes of
// it.
func inflate(packed, dict []byte) ([]byte, error) {
	r := flate.NewReaderDict(bytes.NewReader(packed), dict)
	b, err := io.ReadAll(io.LimitReader(r, maxBlobJSON+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(b) > maxBlobJSON {
		return nil, errors.New("inflate: value over 64 MiB")
	}
	return b, nil
}

// chunkSize keeps every piece of a packed value within Redis's hash-max-listpack-value
// (default 64), so a record stays a compact listpack instead of a hashtable (about a third of
// the memory).
const chunkSize = 64

// splitChunks splits a packed value into pieces of at most chunkSize bytes: a record's hash
// fields z0, z1, ...
func splitChunks(data []byte) []any {
	var out []any
	for len(data) > 0 {
		n := min(chunkSize, len(data))
		out = append(out, string(data[:n]))
		data = data[n:]
	}
	return out
}

// joinChunks reassembles a splitChunks value from a record hash; ok is false when it has none.
func joinChunks(h map[string]string) (data []byte, ok bool) {
	for i := 0; ; i++ {
		c, found := h["z"+strconv.Itoa(i)]
		if !found {
			return data, i > 0
		}
		data = append(data, c...)
	}
}
