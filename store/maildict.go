package store

import (
	"bytes"
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
// dictionary is part of each copy's format: a copy names it by digest (blobM2, blobM1), and
// the store keeps it in Redis under that digest (maildict:<id>, a few KB per language, no
// expiry), so that copies made with it stay readable after the templates change, by any rmad
// that reads them.

// blobM2 starts a kept mail deflated with a MailDictionary: then the dictionary's id (8
// bytes), then the deflate stream of the copy's JSON (without the mail: KeptMail.Raw is not
// in it), a line end, and the mail's bytes as they are. The mail is neither escaped for JSON
// (a third more bytes to deflate in headers and quoted-printable text) nor converted to a
// string and back.
const blobM2 = "\x00m2"

// blobM1 is how earlier versions stored a kept mail with a dictionary: the id, then the
// deflate stream of keptMail's JSON, the mail a JSON string inside. Still read.
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
}

// NewMailDictionary makes the dictionary of sample mails (the most typical last, as deflate
// finds near matches more cheaply): each as a copy is deflated (blobM2), of which the last
// 32 KB count.
func NewMailDictionary(samples []KeptMail) (*MailDictionary, error) {
	var b bytes.Buffer
	for _, m := range samples {
		if err := writeKept(&b, m); err != nil {
			return nil, fmt.Errorf("mail dictionary: %w", err)
		}
	}
	data := b.Bytes()
	if len(data) > maxMailDict {
		data = data[len(data)-maxMailDict:]
	}
	return newMailDict(data), nil
}

// writeKept writes m as blobM2 deflates it: its JSON, a line end, its mail.
func writeKept(w io.Writer, m KeptMail) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if _, err := w.Write(js); err != nil {
		return err
	}
	_, err = w.Write(m.Raw)
	return err
}

func newMailDict(data []byte) *MailDictionary {
	d := &MailDictionary{data: data}
	sum := sha256.Sum256(data)
	copy(d.id[:], sum[:])
	return d
}

// ID names the dictionary (hex of its digest's first bytes).
func (d *MailDictionary) ID() string { return hex.EncodeToString(d.id[:]) }

// pack deflates m with the dictionary: blobM2, the id, the stream.
func (d *MailDictionary) pack(m KeptMail) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(m.Raw)/6 + 256)
	b.WriteString(blobM2)
	b.Write(d.id[:])
	w := packWriter()
	defer releasePackWriter(w)
	w.ResetDict(&b, d.data)
	if err := writeKept(w, m); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
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
// the first time) in either form, else as unpackJSON does.
func (s *Store) unpackKept(ctx context.Context, data []byte) (KeptMail, error) {
	rest, m2 := bytes.CutPrefix(data, []byte(blobM2))
	if !m2 {
		var ok bool
		if rest, ok = bytes.CutPrefix(data, []byte(blobM1)); !ok {
			var km keptMail
			err := unpackJSON(data, &km)
			km.KeptMail.Raw = []byte(km.Raw)
			return km.KeptMail, err
		}
	}
	if len(rest) < mailDictIDLen {
		return KeptMail{}, errors.New("kept mail: too short")
	}
	id := hex.EncodeToString(rest[:mailDictIDLen])
	d, err := s.loadMailDict(ctx, id)
	if err != nil {
		return KeptMail{}, err
	}
	packed := rest[mailDictIDLen:]
	if !m2 {
		var km keptMail
		err := inflateJSON(packed, d.data, &km)
		km.KeptMail.Raw = []byte(km.Raw)
		return km.KeptMail, err
	}
	b, err := inflate(packed, d.data)
	if err != nil {
		return KeptMail{}, err
	}
	js, raw, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return KeptMail{}, errors.New("kept mail: no line end after its JSON")
	}
	var m KeptMail
	if err := json.Unmarshal(js, &m); err != nil {
		return KeptMail{}, fmt.Errorf("kept mail: %w", err)
	}
	m.Raw = raw
	return m, nil
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
