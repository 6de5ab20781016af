package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

func TestSubmission(t *testing.T) {
	p := rma.Partner{ID: "P-RO-002", Locale: "ro"}
	raw := `{"items":[{"ean":5204001000013,"quantity":2,"receiver_pays":true,"serial":"  S1  ","iban":null},{"ean":"x"},{"ean":"y"}],
		"attachments":[{"filename":"scan.bin","content_type":"application/octet-stream","content_base64":"/9j/4AAQSkZJRg=="}]}`
	in, err := DecodeSubmission([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 9, 30, 0, 0, time.FixedZone("EEST", 3*3600))
	sub, err := in.Submission(p, Origin{Source: rma.Source{Channel: "api"}, Subject: "s", Date: at}, 2)
	if err != nil {
		t.Fatal(err)
	}
	it := sub.Items[0]
	if it.EAN != "5204001000013" || it.Quantity != "2" || it.ReceiverPays != "yes" || it.Serial != "S1" || it.IBAN != "" || it.Line != 1 {
		t.Fatalf("item %+v", it)
	}
	if !sub.HasProof { // a JPEG by its content, whatever the declared type
		t.Error("JPEG content not taken as proof")
	}
	if len(sub.Items) != 2 || len(sub.Problems) != 1 || sub.Problems[0].Code != rma.CodeTooLarge || sub.Locale != "ro" ||
		sub.PartnerID != "P-RO-002" || !sub.Date.Equal(at) || sub.Date.Location() != time.UTC {
		t.Fatalf("submission %+v", sub)
	}
	for _, c := range []struct {
		name, ctype string
		data        []byte
		want        bool
	}{
		{"invoice.PDF", "", []byte("not really"), true},
		{"x", "image/png", []byte("whatever"), true},
		{"x", "", []byte("%PDF-1.7 ..."), true},
		{"list.csv", "text/csv", []byte("a,b"), false},
		{"invoice.pdf", "application/pdf", nil, false},
	} {
		if got := isProof(c.name, c.ctype, c.data); got != c.want {
			t.Errorf("isProof(%q, %q) = %v", c.name, c.ctype, got)
		}
	}
}

func TestSubmissionInputErrors(t *testing.T) {
	for body, want := range map[string]struct {
		kind   InputKind
		detail string
	}{
		`{"items":[{"colour":"red"}]}`:                                   {Malformed, `items[0]: unknown field "colour"`},
		`{"items":[{"ean":["x"]}]}`:                                      {Malformed, "items[0].ean: want a string, got a JSON array"},
		`{"items":[{"ean":"1"}],"attachments":[{"content_base64":"%"}]}`: {Invalid, "attachments[0].content_base64: not standard base64"},
		`{"itemz":[]}`: {Malformed, `unknown field "itemz"; the fields are partner, items`},
	} {
		in, err := DecodeSubmission([]byte(body))
		if err == nil {
			_, err = in.Submission(rma.Partner{ID: "P"}, Origin{}, 10)
		}
		ie, ok := err.(*InputError)
		if !ok || ie.Kind != want.kind || !strings.Contains(ie.Detail, want.detail) {
			t.Errorf("%s: %v, want kind %d and %q", body, err, want.kind, want.detail)
		}
	}
}

func TestDecodeStrictMessages(t *testing.T) {
	var v vendorStatusBody
	for body, want := range map[string]string{
		``:                           "empty",
		`[]`:                         "JSON object",
		`{"status":`:                 "cut short",
		"{\n \"status\": x}":         "line 2",
		`{"status":1}`:               "field status: want a string",
		`{"Colour":1}`:               `unknown field "Colour"; the fields are rma_number`,
		`{"status":"a"}{"status":1}`: "after the JSON object",
	} {
		err := decodeStrict([]byte(body), &v, vendorStatusFields)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("decodeStrict(%q) = %v, want %q", body, err, want)
		}
	}
	if err := decodeStrict([]byte(` {"status":"a"} `+"\n"), &v, nil); err != nil {
		t.Errorf("whitespace around the object: %v", err)
	}
}
