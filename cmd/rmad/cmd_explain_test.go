package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/ingest/tnef/tneftest"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// explainConfig writes a config with config.sample.yaml's routing and the fixtures' data files.
func explainConfig(t *testing.T) string {
	t.Helper()
	t.Setenv("RMAD_IMAP_PARTNERS_PASSWORD", "pw")
	data, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	// explain connects to nothing: the addresses only have to be valid.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := sandbox.WriteConfig(path, sandbox.Settings{
		IMAPAddr: "127.0.0.1:993", IMAPUser: "rma@distributor.example", SMTPAddr: "127.0.0.1:587", DataDir: data,
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

func fixNow(t *testing.T) {
	old := explainNow
	explainNow = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { explainNow = old })
}

// TestExplainJSONFixtures checks --json against the fixtures' expected outcomes: the keys of
// docs/contract.md §9, kinds, and every row (a duplicate is accepted here: only the store knows).
func TestExplainJSONFixtures(t *testing.T) {
	fixNow(t)
	cfg := explainConfig(t)
	files, _ := filepath.Glob("../../testdata/mails/*.eml")
	var out, errb bytes.Buffer
	code := run(append([]string{"explain", "--json", "--config", cfg}, files...), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, &errb)
	}
	var got []map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, &out)
	}
	expected := testenv.Expected(t, "../../testdata")
	if len(got) != len(files) {
		t.Fatalf("%d objects for %d files", len(got), len(files))
	}
	kinds := map[string]string{"results": "submission", "registration": "unknown_sender", "none": "ignored", "status": "command", "warranty": "command"}
	for i, obj := range got {
		for _, key := range []string{"file", "message_id", "kind", "partner", "rows"} {
			if _, ok := obj[key]; !ok {
				t.Errorf("object %d lacks %q", i, key)
			}
		}
		var file, kind string
		_ = json.Unmarshal(obj["file"], &file)
		_ = json.Unmarshal(obj["kind"], &kind)
		exp := expected[filepath.Base(file)]
		if file != files[i] || kind != kinds[exp.Reply] {
			t.Errorf("object %d: file %q kind %q, want %q %q", i, file, kind, files[i], kinds[exp.Reply])
			continue
		}
		var rows []struct {
			testenv.ExpectedRow
			Message string `json:"message"`
		}
		if err := json.Unmarshal(obj["rows"], &rows); err != nil || rows == nil {
			t.Errorf("%s: rows %s: %v", file, obj["rows"], err)
			continue
		}
		if len(rows) != len(exp.Rows) {
			t.Errorf("%s: %d rows, want %d", file, len(rows), len(exp.Rows))
			continue
		}
		for j, r := range rows {
			w := exp.Rows[j]
			if w.Result == rma.ResultDuplicate {
				w.Result = rma.ResultAccepted // explain does not see the store
			}
			if r.Line != w.Line || r.Result != w.Result || !slices.Equal(r.Codes, w.Codes) ||
				(w.Handling != "" && r.Handling != w.Handling) || (w.Warranty != "" && r.Warranty != w.Warranty) || r.Message == "" {
				t.Errorf("%s row %d: %+v, want %+v", file, j, r, w)
			}
		}
	}
}

func TestExplain(t *testing.T) {
	fixNow(t)
	cfg := explainConfig(t)
	mail := func(name string) string { return "../../testdata/mails/" + name }
	missing := filepath.Join(t.TempDir(), "absent.eml")
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{name: "text for people", args: []string{mail("13-ro-scientific-ean.eml"), mail("10-auto-reply.eml"), mail("09-unknown-sender.eml"), mail("20-warranty-command.eml")},
			wantOut: []string{"13-ro-scientific-ean.eml", "partner:    P-RO-002 (Nova IT SRL)", "line 1: rejected", "[ean_invalid]",
				"EAN: “5.90123E+12” is no longer an EAN", "Format the EAN column as Text",
				"ignored (auto_submitted)", "rmad never answers", "unknown sender (not_registered)", "registration hint",
				"QNAP TS-264 covered until 2028-06-15"}},
		{name: "rejected and accepted reasons", args: []string{mail("04-en-grandstream-no-ticket.eml"), mail("15-out-of-warranty.eml"), mail("08-no-proof.eml")},
			wantOut: []string{"https://helpdesk.grandstream.com/", "warranty expired since 2023-01-15", "paid repair",
				"whole submission: proof_missing", "attach the invoice"}},
		{name: "unreadable file", args: []string{"--json", missing, mail("01-gr-body-router.eml")}, wantCode: 1,
			wantOut: []string{`"error": "open ` + missing, `"message_id": "pub-1-a1@alfa-computers.gr"`}},
		{name: "unreadable file as text", args: []string{missing}, wantCode: 1, wantOut: []string{"error: open "}},
		{name: "no files", args: nil, wantCode: 2, wantErr: []string{"name at least one mail file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"explain", "--config", cfg}, c.args...), &out, &errb)
			if code != c.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.wantCode, &out, &errb)
			}
			wantContains(t, "stdout", out.String(), c.wantOut)
			wantContains(t, "stderr", errb.String(), c.wantErr)
		})
	}
}

func TestExplainBadConfig(t *testing.T) {
	var out, errb bytes.Buffer
	path := filepath.Join(t.TempDir(), "none.yaml")
	if code := run([]string{"explain", "--config", path, "../../testdata/mails/01-gr-body-router.eml"}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "cannot read the configuration") {
		t.Errorf("stderr:\n%s", &errb)
	}
}

// explain shows what rmad saw in a mail: the decoded subject, the sender, whether a proof was
// found, and every file with its role and where it was found.
func TestExplainAttachments(t *testing.T) {
	fixNow(t)
	cfg := explainConfig(t)
	pdf := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	s := tneftest.NewStream()
	s.Attr(2, tneftest.AttAttachRendData, make([]byte, 14))
	s.Attr(2, tneftest.AttAttachTitle, []byte("INVOIC~1.PDF\x00"))
	s.Attr(2, tneftest.AttAttachData, pdf)
	s.Attr(2, tneftest.AttAttachment, (&tneftest.Props{}).Unicode(tneftest.PrAttachLong, "invoice.pdf").Bytes())
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	inner := "From: Colleague <colleague@cyprusnet.example>\nSubject: router\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=in\n\n--in\nContent-Type: text/plain\n\nEAN: 5204001000013\nSerial: RT-99\nPurchase date: 2026-06-01\nDescription: Router does not power on at all.\n" +
		"--in\nContent-Type: application/ms-tnef\nContent-Disposition: attachment; filename=winmail.dat\nContent-Transfer-Encoding: base64\n\n" + b64(s.Bytes()) + "\n--in--\n"
	mail := "From: Cyprus Net <returns@cyprusnet.example>\nTo: rma@distributor.example\nSubject: =?utf-7?Q?Fwd:_R+AOk-clamation?=\nMessage-ID: <x1@cyprusnet.example>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: text/plain\n\nsee below\n--out\nContent-Type: image/png\nContent-ID: <logo>\n\n\x89PNG\r\n\x1a\n\n" +
		"--out\nContent-Type: message/rfc822\n\n" + inner + "\n--out--\n"
	file := filepath.Join(t.TempDir(), "fwd.eml")
	if err := os.WriteFile(file, []byte(mail), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"explain", "--json", "--config", cfg, file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, &errb)
	}
	var got []struct {
		Subject     string
		From        string
		Proof       bool
		Kind        string
		Rows        []struct{ Result string }
		Attachments []struct {
			Filename    string
			ContentType string `json:"content_type"`
			Size        int64
			Role        string
			Inside      string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 1 {
		t.Fatalf("%v\n%s", err, &out)
	}
	g := got[0]
	if g.Subject != "Fwd: Réclamation" || g.From != "returns@cyprusnet.example" || !g.Proof || g.Kind != "submission" || len(g.Rows) != 1 {
		t.Errorf("%+v", g)
	}
	roles := map[string]string{}
	for _, a := range g.Attachments {
		roles[a.Filename+"|"+a.ContentType+"@"+a.Inside] = a.Role
	}
	for key, role := range map[string]string{"|image/png@": "decorative", "|message/rfc822@": "other",
		"winmail.dat|application/ms-tnef@forwarded message": "other", "invoice.pdf|application/pdf@forwarded message > winmail.dat": "proof"} {
		if roles[key] != role {
			t.Errorf("%s: role %q, want %q (all: %v)", key, roles[key], role, roles)
		}
	}
	out.Reset()
	if code := run([]string{"explain", "--config", cfg, file}, &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	wantContains(t, "stdout", out.String(), []string{`subject:    "Fwd: Réclamation"`, "files:", "invoice.pdf (application/pdf, 69 bytes): proof of purchase, inside forwarded message > winmail.dat",
		"decorative, not a proof", "proof of purchase attached"})
}
