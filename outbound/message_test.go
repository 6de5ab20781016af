package outbound

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rmad/rmad/rma"
)

// Message.JSON writes what json.Marshal writes, for every shape of message.
func TestMessageJSON(t *testing.T) {
	reply, err := testComposer().Reply(submissionFor("el", "Αίτηση RMA"), partners["el"],
		[]rma.Decision{inHouse(1, "RMA/7/SR/2026", archer, rma.Item{Serial: "RT-1"})}, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Message{
		"reply":      reply,
		"no raw":     {ID: "a@b", From: "x@y"},
		"empty raw":  {ID: "a@b", Raw: []byte{}},
		"odd values": {ID: `q"<>&\` + "\u2028", From: "é@ü", To: []string{"a@b", `"c"@d`}, Raw: []byte{0, 1, 2, 255}},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: JSON()\n%s\nwant (json.Marshal)\n%s", name, got, want)
		}
		var back Message
		if err := json.Unmarshal(got, &back); err != nil || back.ID != m.ID || !bytes.Equal(back.Raw, m.Raw) {
			t.Errorf("%s: read back %+v, %v", name, back, err)
		}
	}
}
