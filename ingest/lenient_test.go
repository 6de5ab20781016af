package ingest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/rmad/rmad/rma"
)

// Mail that Python's email package reads is read here too: what comes above the header and a
// broken header line do not lose the mail.
func TestParseMailLenientHeader(t *testing.T) {
	body := "\n" + formBody
	mail := func(h string) string { return h + "Content-Type: text/plain; charset=utf-8\n" + body }
	cases := []struct{ name, raw string }{
		{"leading blank lines", "\n\r\n  \n" + mail(headers())},
		{"utf-8 bom", "\xef\xbb\xbf" + mail(headers())},
		{"bom then mbox from line", "\xef\xbb\xbfFrom returns@cyprusnet.example Mon Nov  2 09:04:00 2026\n" + mail(headers())},
		{"mbox from line then blank", "From returns@cyprusnet.example Mon Nov  2 09:04:00 2026\n\n" + mail(headers())},
		{"a broken line in the header", mail(strings.Replace(headers(), "Subject: RMA\n", "Subject: RMA\nthis line is no header\n", 1))},
		{"a broken line first", mail("not a header at all\n" + headers())},
		{"a field name with a space", mail(strings.Replace(headers(), "MIME-Version", "X Mailer: Foo\nMIME-Version", 1))},
		{"a continuation line first", mail("   folded nothing\n" + headers())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), c.raw)
			if sub.Kind != rma.KindSubmission || sub.From != "returns@cyprusnet.example" || sub.Subject != "RMA" {
				t.Fatalf("kind %s from %q subject %q why %q", sub.Kind, sub.From, sub.Subject, sub.Why)
			}
			if len(sub.Items) != 1 || sub.Items[0].EAN != "5204001000013" {
				t.Fatalf("items %+v", sub.Items)
			}
			head, err := testParser().ClassifyHeader(HeaderBlock([]byte(c.raw)))
			if err != nil || head.Kind != sub.Kind || head.PartnerID != sub.PartnerID {
				t.Fatalf("ClassifyHeader: %s %s %v", head.Kind, head.PartnerID, err)
			}
		})
	}
	// The field before a broken line ends there; the next field is read.
	sub := parse(t, testParser(), mail(strings.Replace(headers(), "Subject: RMA\n", "Subject: RMA\n router\n@@ broken\n continued?\n", 1)))
	if sub.Subject != "RMA router" {
		t.Errorf("subject %q, want the field up to the broken line", sub.Subject)
	}
	if _, err := testParser().ParseMail(strings.NewReader("\n\n\nno header here\n")); err == nil {
		t.Error("a mail without any header field was accepted")
	}
}

func TestDecodeSubjects(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"plain", "RMA router", "RMA router"},
		{"utf-8 b", "=?utf-8?b?zpHOr8+EzrfPg863?= RMA", "Αίτηση RMA"},
		{"adjacent words join", "=?utf-8?q?d=C3=A9?= =?utf-8?q?fectueux?=", "défectueux"},
		{"raw 8-bit inside a q word", "=?utf-8?q?Retour_produit_d\xc3\xa9fectueux?=", "Retour produit défectueux"},
		{"raw utf-8 inside a latin-1 word", "=?iso-8859-1?q?cam\xc3\xa9ra?=", "caméra"},
		{"latin-1 q", "=?iso-8859-1?q?cam=E9ra?=", "caméra"},
		{"utf-7", "=?utf-7?Q?R+AOk-clamation?=", "Réclamation"},
		{"utf-7 greek", "=?UTF-7?B?" + b64("+A5EDrwPEA7cDwwO3-") + "?=", "Αίτηση"},
		{"over-padded base64", "=?utf-8?B?zpHOr8+EzrfPg863====?=", "Αίτηση"},
		{"latin-1 bytes labelled utf-8", "=?utf-8?B?Y2Ft6XJh?=", "caméra"},
		{"unpadded base64", "=?utf-8?B?Y2Fmw6k?=", "café"},
		{"charset none", "=?none?q?Cerere_garan=FEie?=", "Cerere garanţie"},
		{"unknown charset greek", "=?x-unknown?b?" + b64("\xc1\xdf\xf4\xe7\xf3\xe7") + "?=", "Αίτηση"},
		{"iso-2022-jp word", "=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"},
		{"raw iso-2022-jp", "RMA \x1b$B%F%9%H\x1b(B", "RMA テスト"},
		{"raw windows-1253", "\xc1\xdf\xf4\xe7\xf3\xe7 RMA", "Αίτηση RMA"},
		{"not a word", "price =? 10", "price =? 10"},
		{"unterminated word", "=?utf-8?q?abc", "=?utf-8?q?abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := decodeWords(c.raw); got != c.want {
				t.Errorf("decodeWords(%q) = %q, want %q", c.raw, got, c.want)
			}
		})
	}
	// Through a whole mail, as the reply quotes it.
	sub := parse(t, testParser(), replaceHeader(headers(), "Subject", "Subject: =?utf-7?Q?R+AOk-clamation?=")+"\n"+formBody)
	if sub.Subject != "Réclamation" {
		t.Errorf("mail subject %q", sub.Subject)
	}
}

func b64(s string) string { return lenientB64Encode([]byte(s)) }

// Automatic mail gets neither an RMA answer nor a registration hint: it is ignored, whoever
// sent it.
func TestAutomaticMail(t *testing.T) {
	unknown := func(extra ...string) string {
		return replaceHeader(headers(extra...), "From", "From: shop@unknown.example")
	}
	withSubject := func(s string) string {
		return replaceHeader(headers(), "Subject", "Subject: "+s)
	}
	cases := []struct{ name, head, why string }{
		{"apple vacation", headers("X-Apple-Action: VACATION"), WhyAutoReply},
		{"exchange oof", unknown("X-Auto-Response-Suppress: All"), WhyAutoReply},
		{"x-autorespond", unknown("X-Autorespond: yes"), WhyAutoSubmitted},
		{"auto reply subject", withSubject("Auto reply: RMA"), WhyAutoSubject},
		{"automatic reply subject", withSubject("Automatic reply: RMA request GRP2612"), WhyAutoSubject},
		{"out of office", withSubject("Out of Office - back on Monday"), WhyAutoSubject},
		{"greek", withSubject("=?utf-8?b?" + b64("Αυτόματη απάντηση: RMA") + "?="), WhyAutoSubject},
		{"romanian", withSubject("=?utf-8?q?R=C4=83spuns_automat:_Cereri_RMA?="), WhyAutoSubject},
		{"french", withSubject("=?utf-8?q?R=C3=A9ponse_automatique_:_Retour?="), WhyAutoSubject},
		{"no-reply", replaceHeader(headers(), "From", "From: Shop <no-reply@shop.example>"), WhyNoReplySender},
		{"noreply", replaceHeader(headers(), "From", "From: noreply@alfa-computers.gr"), WhyNoReplySender},
		{"post_master", replaceHeader(headers(), "From", "From: post_master@shop.example"), WhyMailerDaemon},
		{"failed recipients", unknown("X-Failed-Recipients: rma@distributor.example"), WhyBounce},
		{"undeliverable", withSubject("Undeliverable: RMA"), WhyBounce},
		{"sns", replaceHeader(unknown("X-Amz-Sns-Message-Id: 5a3c", "X-Amz-Sns-Message-Type: Notification"), "Subject", "Subject: AWS Notification Message"), WhyBounce},
		{"ses bounce", replaceHeader(headers(), "From", "From: MAILER-DAEMON@amazonses.com"), WhyMailerDaemon},
		{"arf", unknown("Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\""), WhyMultipartReport},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), c.head+"\n"+formBody)
			if sub.Kind != rma.KindIgnored || sub.Why != c.why {
				t.Errorf("kind %s why %q, want ignored %q", sub.Kind, sub.Why, c.why)
			}
		})
	}
	// An ARF report that starts with a BOM is still one.
	arf := "\xef\xbb\xbf" + unknown("Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"") +
		"\n--b\nContent-Type: text/plain\n\nThis is an abuse report\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n--b--\n"
	if sub := parse(t, testParser(), arf); sub.Kind != rma.KindIgnored || sub.Why != WhyMultipartReport {
		t.Errorf("ARF with BOM: kind %s why %q", sub.Kind, sub.Why)
	}
	// A partner's ordinary subject is not taken for an automatic one.
	for _, s := range []string{"RMA auto router", "Reply needed: RMA", "Office router broken", "Retour produit"} {
		if sub := parse(t, testParser(), withSubject(s)+"\n"+formBody); sub.Kind != rma.KindSubmission {
			t.Errorf("subject %q: kind %s why %q", s, sub.Kind, sub.Why)
		}
	}
}

func lenientB64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
