package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/ingest/mailbox"
	"github.com/rmad/rmad/ingest/tnef/tneftest"
	"github.com/rmad/rmad/rma"
)

const processedFolder = "RMA/Processed"

// withProcessed starts go-imap's in-memory IMAP server with the given mails in the processed
// folder and gives the console the daemon's way to fetch an original from it.
func withProcessed(t *testing.T, mails ...[]byte) envOption {
	t.Helper()
	srv, err := sandbox.StartIMAP("rmad", "imap-secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.User, srv.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(processedFolder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, raw := range mails {
		cmd := c.Append(processedFolder, int64(len(raw)), nil)
		_, _ = cmd.Write(raw)
		_ = cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	box := config.Mailbox{Name: "partners", Address: srv.Addr, TLS: config.TLSNone, Username: srv.User,
		Password: config.Secret(srv.Password), Mailbox: "INBOX", ProcessedMailbox: processedFolder}
	return func(cfg *Config) {
		cfg.Originals = func(ctx context.Context, src rma.Source) ([]byte, error) {
			raw, err := mailbox.Original(ctx, box, nil, src.MessageID, 1<<20)
			if errors.Is(err, mailbox.ErrNoOriginal) {
				return nil, fmt.Errorf("%w: %w", ErrNoOriginal, err)
			}
			return raw, err
		}
	}
}

// partnerMail is a partner's mail with a text part, an HTML part that tries to run script, and
// a PDF whose file name tries markup.
func partnerMail(id string, pdf []byte) []byte {
	return []byte("From: Alfa Service <service@alfa.gr>\r\nTo: rma@distributor.example\r\n" +
		"Subject: =?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Αίτηση RMA <b>router</b>")) + "?=\r\n" +
		"Date: Mon, 01 Jun 2026 08:15:00 +0300\r\nMessage-ID: <" + id + ">\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		"Serial: SN-ORIG-1\r\nThe router <script>alert(1)</script> does not power on.\r\n" +
		"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p onclick=\"alert(2)\">The router</p><script>alert(3)</script>\r\n" +
		"--b2--\r\n" +
		"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice <img src=x onerror=alert(4)>.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(pdf) + "\r\n--b1--\r\n")
}

// Staff open the partner's original mail from the RMA page in a real browser: the header, the
// text (never the partner's HTML, never its script), and the attachment, downloaded by a click
// with its bytes as sent. An RMA whose mail is gone from the processed folder says so clearly
// (a 404 page, not a 500), and so does one that came by webhook.
func TestBrowserOriginalMail(t *testing.T) {
	pdf := []byte("%PDF-1.4\n% the partner's invoice\n%%EOF\n")
	e := newEnv(t, withProcessed(t, partnerMail("orig-1@alfa.gr", pdf)))
	num := e.newRMA(item{serial: "SN-ORIG-1", messageID: "orig-1@alfa.gr"})
	gone := e.newRMA(item{serial: "SN-GONE", messageID: "gone@alfa.gr"})

	b := newBrowser(t)
	base := e.srv.URL
	dl := t.TempDir()
	b.run("downloads go to a folder", cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dl).WithEventsEnabled(true))
	b.signIn(base, "ann", annPassword)
	b.run("open the original from the RMA page",
		chromedp.Navigate(base+rmaLink(num)),
		chromedp.WaitVisible(`#original-link`, chromedp.ByQuery),
		chromedp.Click(`#original-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#original`, chromedp.ByQuery),
	)
	if got := b.text(`#orig-subject`); got != "Αίτηση RMA <b>router</b>" {
		t.Fatalf("subject: %q", got)
	}
	if got := b.text(`#orig-from`); !strings.Contains(got, "service@alfa.gr") {
		t.Fatalf("from: %q", got)
	}
	if got := b.text(`#orig-text`); !strings.Contains(got, "The router <script>alert(1)</script> does not power on.") {
		t.Fatalf("text: %q", got)
	}
	var scripts, bolds int
	b.run("no partner markup on the page", chromedp.Evaluate(`document.scripts.length`, &scripts), chromedp.Evaluate(`document.querySelectorAll("#original b, #orig-text p, img").length`, &bolds))
	if scripts != 0 || bolds != 0 {
		t.Fatalf("the partner's markup is on the page: %d scripts, %d elements", scripts, bolds)
	}
	name := "invoice <img src=x onerror=alert(4)>.pdf"
	if got := b.text(`#orig-attachments`); !strings.Contains(got, name) {
		t.Fatalf("attachments: %q", got)
	}
	b.run("download it", chromedp.Click(`#orig-attachments a.orig-file`, chromedp.ByQuery))
	var got []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		entries, _ := os.ReadDir(dl)
		for _, en := range entries {
			if strings.HasSuffix(en.Name(), ".pdf") {
				got, _ = os.ReadFile(filepath.Join(dl, en.Name()))
			}
		}
		if len(got) == len(pdf) {
			break
		}
	}
	if string(got) != string(pdf) {
		t.Fatalf("downloaded %q, want the partner's PDF", got)
	}

	b.expect(404, base+rmaLink(gone)+"/original")
	b.run("a mail gone from the folder", chromedp.Navigate(base+rmaLink(gone)+"/original"), chromedp.WaitVisible(`#orig-missing`, chromedp.ByQuery))
	if got := b.text(`#orig-missing`); !strings.Contains(got, "gone@alfa.gr") || !strings.Contains(got, "no longer in the processed folder") {
		t.Fatalf("missing mail: %q", got)
	}
	b.noErrors()

	// Over HTTP: the download is never rendered by the browser; a webhook RMA has no mail; an
	// attachment index out of range is a 404.
	c := e.signedIn("ann", annPassword)
	p := c.get(rmaLink(num) + "/original/0")
	wantStatus(t, p, http.StatusOK)
	if ct, cd := p.header.Get("Content-Type"), p.header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
		t.Fatalf("download headers: %q %q", ct, cd)
	}
	wantStatus(t, c.get(rmaLink(num)+"/original/7"), http.StatusNotFound)
	wantStatus(t, c.get(rmaLink(num)+"/original/x"), http.StatusNotFound)
	wantStatus(t, c.get(rmaLink(gone)+"/original/0"), http.StatusNotFound)
	p = c.get(rmaLink(num) + "/original")
	wantNotIn(t, p, "<script>", "<b>router</b>", "<img src=x", `onclick="alert(2)"`)
	wantIn(t, p, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

// An Outlook mail whose files and text are packed in a winmail.dat: the page lists the files
// inside it, each downloadable with its bytes, and shows its body as the mail's text.
func TestOriginalWinmailDat(t *testing.T) {
	pdf := []byte("%PDF-1.4 invoice of the router")
	s := tneftest.NewStream()
	s.Attr(1, tneftest.AttTnefVersion, []byte{0, 0, 1, 0})
	s.Attr(1, tneftest.AttBody, []byte("Serial: SN-TNEF-1, the router is dead.\x00"))
	s.Attr(2, tneftest.AttAttachRendData, make([]byte, 14))
	s.Attr(2, tneftest.AttAttachTitle, []byte("INVOIC~1.PDF\x00"))
	s.Attr(2, tneftest.AttAttachData, pdf)
	s.Attr(2, tneftest.AttAttachment, (&tneftest.Props{}).Unicode(tneftest.PrAttachLong, "invoice 2026.pdf").Bytes())
	raw := []byte("From: Alfa <service@alfa.gr>\r\nSubject: RMA\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(s.Bytes()) + "\r\n--b--\r\n")
	m, err := readOriginal(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "SN-TNEF-1") {
		t.Errorf("text %q, want the winmail.dat's body", m.Text)
	}
	if len(m.Attachments) != 2 || m.Attachments[0].Name != "winmail.dat" || m.Attachments[1].Name != "winmail.dat › invoice 2026.pdf" ||
		string(m.Attachments[1].data) != string(pdf) || m.Attachments[1].Index != 1 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
}
