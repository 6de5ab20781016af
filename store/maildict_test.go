package store

import (
	"runtime"
	"strings"
	"testing"
)

// A dictionary's writer outlasts garbage collections, which empty a sync.Pool: a kept copy
// packed after two of them allocates its few KB, not a writer anew (840 KB).
func TestMailDictionaryWriterOutlastsGC(t *testing.T) {
	sample := keptTestMail("reply.sample@d", testNow)
	sample.Raw = append(sample.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 100)...)
	d, err := NewMailDictionary([]KeptMail{sample})
	if err != nil {
		t.Fatal(err)
	}
	js := []byte(strings.Repeat(`{"raw":"Γεια σας, λάβαμε το αίτημα RMA σας.\r\n"}`, 50))
	if _, err := d.pack(js); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := d.pack(js); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("a copy packed after two collections allocated %d KB", n>>10)
	}
}
