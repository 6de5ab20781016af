package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

// withID is a partner mail with Message-ID <id> and a body that tells the copies apart.
func withID(id, body string) []byte {
	return []byte("From: Partner <p@partner.example>\r\nTo: rma@example.com\r\nSubject: RMA request\r\n" +
		"Message-ID: <" + id + ">\r\nDate: Mon, 16 Mar 2026 10:00:00 +0200\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
}

// originalCases fills a processed folder through add and checks Original on cfg: found
// (exact bytes), not found, an id that only differs by a prefix or suffix, odd characters,
// ids Original refuses to search for, two copies (the newest), and a mail over the limit.
func originalCases(t *testing.T, cfg config.Mailbox, add func(raw []byte)) {
	ctx := context.Background()
	plain := withID("a1.4f2@partner.example", "the one")
	odd := "x+y=z/1$%&'*?^_`{|}~!#-." + "ü@partner.example" // atext, and 8-bit in the local part
	oddRaw := withID(odd, "odd characters")
	older, newer := withID("twice@partner.example", "first copy"), withID("twice@partner.example", "second copy")
	big := withID("big@partner.example", strings.Repeat("x", 2000))
	for _, raw := range [][]byte{plain, withID("xa1.4f2@partner.example", "prefix"), withID("a1.4f2@partner.example.org", "suffix"), oddRaw, older, newer, big} {
		add(raw)
	}
	for _, tc := range []struct {
		name, id string
		want     []byte
	}{
		{"found", "a1.4f2@partner.example", plain},
		{"found with brackets and spaces", " <a1.4f2@partner.example> ", plain},
		{"odd characters", odd, oddRaw},
		{"two copies: the newest", "twice@partner.example", newer},
	} {
		got, err := Original(ctx, cfg, nil, tc.id, 1<<20)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(tc.want, []byte("\r\n"), []byte("\n"))) {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
	for _, id := range []string{"nobody@partner.example", "a1.4f2", "partner.example", "", "<>", `a"1@partner.example`, `a\1@partner.example`, "a1\r\nX: y@partner.example"} {
		if got, err := Original(ctx, cfg, nil, id, 1<<20); !errors.Is(err, ErrNoOriginal) {
			t.Errorf("Original(%q) = %d bytes, %v; want ErrNoOriginal", id, len(got), err)
		}
	}
	if got, err := Original(ctx, cfg, nil, "big@partner.example", 1000); err == nil || errors.Is(err, ErrNoOriginal) || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Errorf("over the limit: %d bytes, %v", len(got), err)
	}
	wrong := cfg
	wrong.Password = "wrong"
	if _, err := Original(ctx, wrong, nil, "a1.4f2@partner.example", 1<<20); err == nil || errors.Is(err, ErrNoOriginal) {
		t.Errorf("wrong password: %v, want a login error", err)
	}
}

func TestOriginalMemServer(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	cfg := mboxConfig(srv.Addr())
	if err := srv.user.Create(cfg.ProcessedMailbox, nil); err != nil {
		t.Fatal(err)
	}
	// A mail in the inbox is not an original yet: only the processed folder is searched.
	srv.appendMail("INBOX", withID("inbox-only@partner.example", "waiting"))
	if _, err := Original(context.Background(), cfg, nil, "inbox-only@partner.example", 1<<20); !errors.Is(err, ErrNoOriginal) {
		t.Errorf("mail in the inbox only: %v, want ErrNoOriginal", err)
	}
	originalCases(t, cfg, func(raw []byte) { srv.appendMail(cfg.ProcessedMailbox, raw) })
}

func TestOriginalDovecot(t *testing.T) {
	addr, user, pass := testenv.IMAPServer(t)
	box := newDovecotBox(t, addr, user, pass)
	if err := box.c.Create(box.processed, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", box.processed, err)
	}
	cfg := box.config()
	if _, err := Original(context.Background(), cfg, nil, "none@partner.example", 1<<20); !errors.Is(err, ErrNoOriginal) {
		t.Errorf("empty folder: %v, want ErrNoOriginal", err)
	}
	originalCases(t, cfg, func(raw []byte) {
		cmd := box.c.Append(box.processed, int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(fmt.Errorf("append to %s: %w", box.processed, err))
		}
	})
}
