package outbound

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// A resend has its own Message-ID and Date, and otherwise the original's header and body.
func TestResend(t *testing.T) {
	orig := Message{ID: "reply.0123456789abcdef@distributor.example", From: "rma@distributor.example", To: []string{"service@alfa.gr"},
		Raw: []byte("Date: Mon, 01 Jun 2026 09:00:00 +0000\r\nFrom: RMA <rma@distributor.example>\r\nTo: service@alfa.gr\r\n" +
			"Subject: Re: RMA [RMA/1/SR/2026]\r\nMessage-ID: <reply.0123456789abcdef@distributor.example>\r\n" +
			"In-Reply-To: <p1@alfa.gr>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n\r\nRef: R-0123456789\r\n")}
	now := time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)
	r, err := Resend(orig, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == orig.ID || !strings.HasPrefix(r.ID, "reply.0123456789abcdef.") || !strings.HasSuffix(r.ID, "@distributor.example") {
		t.Fatalf("id %q", r.ID)
	}
	again, _ := Resend(orig, now)
	later, _ := Resend(orig, now.Add(time.Second))
	if again.ID != r.ID || later.ID == r.ID {
		t.Fatalf("ids: %q %q %q", r.ID, again.ID, later.ID)
	}
	mr, err := mail.CreateReader(bytes.NewReader(r.Raw))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := mr.Header.MessageID()
	date, _ := mr.Header.Date()
	subj, _ := mr.Header.Subject()
	if id != r.ID || !date.Equal(now) || subj != "Re: RMA [RMA/1/SR/2026]" || mr.Header.Get("In-Reply-To") != "<p1@alfa.gr>" {
		t.Fatalf("header: %q %v %q %q", id, date, subj, mr.Header.Get("In-Reply-To"))
	}
	if !bytes.HasSuffix(r.Raw, []byte("\r\n\r\nHello\r\n\r\nRef: R-0123456789\r\n")) || r.From != orig.From || r.To[0] != "service@alfa.gr" {
		t.Fatalf("resend:\n%s", r.Raw)
	}
	if bytes.Contains(r.Raw, []byte("\n\n")) && !bytes.Contains(r.Raw, []byte("\r\n\r\n")) {
		t.Fatal("bare LF")
	}
}
