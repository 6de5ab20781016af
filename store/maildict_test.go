package store

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The deflate writers of packed values outlast garbage collections, which empty a sync.Pool: a
// kept copy packed after two of them allocates its few KB, not a writer anew (a megabyte).
func TestKeptWriterOutlastsGC(t *testing.T) {
	sample := keptTestMail("reply.sample@d", testNow)
	sample.Raw = append(sample.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 100)...)
	d, err := NewMailDictionary([]KeptMail{sample})
	if err != nil {
		t.Fatal(err)
	}
	m := keptTestMail("reply.1@d", testNow)
	m.Raw = append(m.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 50)...)
	if _, err := d.pack(m); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := d.pack(m); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("a copy packed after two collections allocated %d KB", n>>10)
	}
}

// Copies kept by earlier versions (blobM1: the mail a JSON string inside the deflated JSON,
// the dictionary in that form) read as before, beside copies kept now (blobM2).
func TestKeptMailOfEarlierFormat(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner = "P-GR-001"
	old := keptTestMail("reply.old@d", testNow)
	old.Raw = append(old.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 10)...)
	old.Numbers = []string{"RMA/1/SR/2026"}
	// The dictionary and the copy as blobM1 wrote them.
	js, err := json.Marshal(keptMail{KeptMail: old, Raw: string(old.Raw)})
	if err != nil {
		t.Fatal(err)
	}
	d1 := newMailDict(js)
	if err := s.saveMailDict(ctx, d1); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(blobM1)
	b.Write(d1.id[:])
	w, err := flate.NewWriterDict(&b, flate.DefaultCompression, d1.data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepMail(ctx, partner, old.Numbers, old); err != nil { // lists it
		t.Fatal(err)
	}
	if err := s.c.Set(ctx, s.k.keptMail(partner, old.ID), b.Bytes(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	now := old
	now.ID = "reply.now@d"
	d2, err := NewMailDictionary([]KeptMail{old})
	if err != nil {
		t.Fatal(err)
	}
	now.Dictionary = d2
	if err := s.KeepMail(ctx, partner, old.Numbers, now); err != nil {
		t.Fatal(err)
	}
	if v, err := s.c.Get(ctx, s.k.keptMail(partner, now.ID)).Bytes(); err != nil || !bytes.HasPrefix(v, []byte(blobM2)) {
		t.Fatalf("kept now: %q, %v", v, err)
	}
	mailDicts.Clear() // as in another process
	got, err := New(s.c, s.k.prefix).KeptMails(ctx, partner, "RMA/1/SR/2026")
	if err != nil || len(got) != 2 {
		t.Fatalf("kept mails %v, %v", got, err)
	}
	for i, want := range []KeptMail{now, old} {
		want.Dictionary = nil
		if !bytes.Equal(got[i].Raw, want.Raw) || got[i].ID != want.ID || got[i].Subject != want.Subject || got[i].Locale != want.Locale ||
			!got[i].Date.Equal(want.Date) || !slices.Equal(got[i].Numbers, want.Numbers) || !slices.Equal(got[i].To, want.To) {
			t.Errorf("read back %+v\nwant %+v", got[i], want)
		}
	}
}
