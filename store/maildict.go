package store

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A kept partner mail (KeepMail) is mostly the words of rmad's templates in the partner's
// language, quoted-printable, and MIME headers: the same few kilobytes in every mail. Deflated
// with a preset dictionary made of sample mails of that language (outbound writes them with
// the templates, once per configuration), a copy keeps little more than what differs. The
// dictionary is part of each copy's format: a copy names it by digest (blobM1), and the store
// keeps it in Redis under that digest (maildict:<id>, a few KB per language, no expiry), so
// that copies made with it stay readable after the templates change, by any rmad that reads
// them.

// blobM1 starts a kept mail deflated with a MailDictionary: then the dictionary's id (8
// bytes), then the deflate stream.
const blobM1 = "\x00m1"

// mailDictIDLen is the length of a dictionary's id (the first bytes of its SHA-256).
const mailDictIDLen = 8

// maxMailDict is what of a dictionary deflate can use (its window).
const maxMailDict = 32 << 10

// MailDictionary is a preset deflate dictionary for kept mails in one language. It is safe
// for concurrent use.
type MailDictionary struct {
	id   [mailDictIDLen]byte
	data []byte
	// spare keeps one writer across garbage collections, which empty a sync.Pool (its victim
	// cache lasts one more): the daemon collects every few mails and uses a language's
	// dictionary for some of them, so the pool alone made a writer anew for most copies,
	// 840 KB allocated and cleared and the dictionary hashed for a copy of a few KB. The pool
	// holds those that more workers need at once.
	spare   chan *flate.Writer
	writers sync.Pool // *flate.Writer with data as their dictionary
}

// NewMailDictionary makes the dictionary of sample mails (the most typical last, as deflate
// finds near matches more cheaply): the JSON each is stored as, of which the last 32 KB count.
func NewMailDictionary(samples []KeptMail) (*MailDictionary, error) {
	var b bytes.Buffer
	for _, m := range samples {
		js, err := json.Marshal(keptMail{KeptMail: m, Raw: string(m.Raw)})
		if err != nil {
			return nil, fmt.Errorf("mail dictionary: %w", err)
		}
		b.Write(js)
	}
	data := b.Bytes()
	if len(data) > maxMailDict {
		data = data[len(data)-maxMailDict:]
	}
	return newMailDict(data), nil
}

func newMailDict(data []byte) *MailDictionary {
	d := &MailDictionary{data: data, spare: make(chan *flate.Writer, 1)}
	sum := sha256.Sum256(data)
	copy(d.id[:], sum[:])
	d.writers.New = func() any {
		// Level 6, not 9: with the dictionary's long matches 9 saved about 6 % of a copy (27 B
		// of a one-item reply's 438) for half as much CPU again.
		w, err := flate.NewWriterDict(io.Discard, flate.DefaultCompression, data)
		if err != nil {
			panic(err) // only for an invalid level, a constant here
		}
		return w
	}
	return d
}

// ID names the dictionary (hex of its digest's first bytes).
func (d *MailDictionary) ID() string { return hex.EncodeToString(d.id[:]) }

// pack deflates js with the dictionary: blobM1, the id, the stream.
func (d *MailDictionary) pack(js []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(js)/4 + 64)
	b.WriteString(blobM1)
	b.Write(d.id[:])
	w := d.writer()
	defer d.release(w)
	w.Reset(&b) // keeps the dictionary
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writer is a deflate writer with d's dictionary: the spare, else one from the pool.
func (d *MailDictionary) writer() *flate.Writer {
	select {
	case w := <-d.spare:
		return w
	default:
		return d.writers.Get().(*flate.Writer)
	}
}

// release gives w back for the next copy.
func (d *MailDictionary) release(w *flate.Writer) {
	select {
	case d.spare <- w:
	default:
		d.writers.Put(w)
	}
}

func (k keys) mailDict(id string) string { return k.prefix + "maildict:" + id }

// mailDicts holds every dictionary this process has used or read, by id: an id is a digest
// of the content, so one table serves every store.
var mailDicts sync.Map // id (hex) → *MailDictionary

// mailDictResave is how often a store writes a dictionary it packs with again: a Redis that
// lost it (a FLUSHDB, a failover that lost writes) has it back within that time, and every copy
// packed with it meanwhile reads again.
const mailDictResave = 10 * time.Minute

// saveMailDict writes d to Redis when this store packs with it first, and again every
// mailDictResave (SET NX: the same id is the same content), so that every reader finds it.
func (s *Store) saveMailDict(ctx context.Context, d *MailDictionary) error {
	id := d.ID()
	if at, ok := s.savedDicts.Load(id); ok && time.Since(at.(time.Time)) < mailDictResave {
		return nil
	}
	if err := s.c.SetNX(ctx, s.k.mailDict(id), d.data, 0).Err(); err != nil {
		return fmt.Errorf("save mail dictionary %s: %w", id, err)
	}
	s.savedDicts.Store(id, time.Now())
	mailDicts.LoadOrStore(id, d)
	return nil
}

// unpackKept reads a kept mail as packKept stored it: with a MailDictionary (read from Redis
// the first time), else as unpackJSON does.
func (s *Store) unpackKept(ctx context.Context, data []byte, v any) error {
	rest, ok := bytes.CutPrefix(data, []byte(blobM1))
	if !ok {
		return unpackJSON(data, v)
	}
	if len(rest) < mailDictIDLen {
		return errors.New("kept mail: too short")
	}
	id := hex.EncodeToString(rest[:mailDictIDLen])
	d, err := s.loadMailDict(ctx, id)
	if err != nil {
		return err
	}
	return inflateJSON(rest[mailDictIDLen:], d.data, v)
}

// loadMailDict is the dictionary id, from this process's table or Redis.
func (s *Store) loadMailDict(ctx context.Context, id string) (*MailDictionary, error) {
	if d, ok := mailDicts.Load(id); ok {
		return d.(*MailDictionary), nil
	}
	data, err := s.c.Get(ctx, s.k.mailDict(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("kept mail: its dictionary %s is not in Redis", id)
	}
	if err != nil {
		return nil, fmt.Errorf("kept mail: dictionary %s: %w", id, err)
	}
	d := newMailDict(data)
	if d.ID() != id {
		return nil, fmt.Errorf("kept mail: dictionary %s in Redis has another digest (%s)", id, d.ID())
	}
	actual, _ := mailDicts.LoadOrStore(id, d)
	return actual.(*MailDictionary), nil
}
