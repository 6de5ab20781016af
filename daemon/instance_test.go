package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/store"
)

// A restarted instance takes its mailbox lease back at once: the lease belongs to the instance
// name, and a claim on the name left by a killed process is taken over after 2½ beats, not after
// the lease's 15 s.
func TestRestartedInstanceReadsItsMailboxAtOnce(t *testing.T) {
	t.Parallel()
	e := newSchEnv(t, schNever)
	_, logs := e.start("restarted", Options{})
	connected := func(l *schLog) bool { return bytes.Contains(l.Bytes(), []byte(`"message":"connected"`)) }
	testenv.Eventually(t, 30*time.Second, "first process reads the mailbox", func() bool { return connected(logs) })
	logs.stop()
	// What a process killed with SIGKILL leaves behind: its mailbox lease and its claim on the
	// name, both still running their TTLs.
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(ctx, e.prefix+"lease:imap:partners", "restarted", mailboxLeaseTTL).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, e.prefix+"instance:restarted", "0123456789abcdef:42", 10*instanceBeat).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, logs2 := e.start("restarted", Options{})
	testenv.Eventually(t, mailboxLeaseTTL-time.Second, "restarted process reads the mailbox before the old lease would expire", func() bool {
		return connected(logs2)
	})
	t.Logf("restarted instance read its mailbox %s after its start (the lease had %s left)", time.Since(start).Round(10*time.Millisecond), mailboxLeaseTTL)
}

// A second live process under the same instance name is refused with an error that says so,
// and the first one keeps its mailbox.
func TestSecondProcessWithTheSameNameRefused(t *testing.T) {
	t.Parallel()
	e := newSchEnv(t, schNever)
	_, logs := e.start("twin", Options{})
	testenv.Eventually(t, 30*time.Second, "first process reads the mailbox", func() bool {
		return bytes.Contains(logs.Bytes(), []byte(`"message":"connected"`))
	})
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = ""
	d2, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "twin", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = d2.Run(ctx)
	if !errors.Is(err, store.ErrInstanceRunning) || ctx.Err() != nil {
		t.Fatalf("second process under the same name: Run = %v; want ErrInstanceRunning at once", err)
	}
	t.Logf("refused: %v", err)
	if msg := fmt.Sprint(err); !bytes.Contains([]byte(msg), []byte("RMAD_INSTANCE")) || !bytes.Contains([]byte(msg), []byte(`"twin"`)) {
		t.Errorf("the error does not say which name and what to change: %v", err)
	}
	if st := e.first.watchers[0].State(); !st.Leased || !st.Connected {
		t.Errorf("the first process lost its mailbox to the refused one: %+v", st)
	}
}
