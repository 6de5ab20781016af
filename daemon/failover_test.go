package daemon_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
)

// TestSentinelFailoverWithUnreplicatedWrites is issue 17's first fault run, on real servers: a
// master, a replica that reads it through a proxy, and a Sentinel. Mails are answered while
// replication works; then the proxy holds the replication stream, more mails come in and are
// taken in and numbered on the master only, the master is killed, and Sentinel promotes the
// replica, which never saw those writes. rmad (redis.min_replicas left at its Sentinel default,
// 1) waits for the replica before it moves a mail out of INBOX and before it queues a reply, so
// nothing it took in while the stream was held left INBOX or went to a partner: after the
// failover every mail is answered, none is lost, and no number is given twice.
func TestSentinelFailoverWithUnreplicatedWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// No diskless-sync delay: a replica's first sync, and the old master's resync as a replica
	// of the new one, start at once.
	master := testenv.StartRedis(t, "--repl-diskless-sync-delay", "0")
	proxy := testenv.StartProxy(t, master.Addr)
	replica := testenv.StartReplica(t, proxy.Addr, "--repl-diskless-sync-delay", "0")
	sentinel := testenv.StartSentinel(t, "rmad", master.Addr, time.Second)
	testenv.Eventually(t, 30*time.Second, "sentinel knows the replica", func() bool {
		return sentinel.KnowsReplica(ctx, replica.Addr)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sentinel log:\n%s\nreplica log (tail):\n%s", sentinel.Log(), tail(replica.Log(), 4<<10))
		}
	})

	box := newIMAPBox(t)
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	const prefix = "rmad:"
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, configParams{
		RedisAddr: master.Addr, Prefix: prefix, Box: box, SMTPAddr: sink.Addr, IDLE: true, Poll: 2 * time.Second,
	})
	// Through Sentinel, with min_replicas left to its default.
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("url: %q", "redis://"+master.Addr+"/0")
	if !strings.Contains(string(text), url) {
		t.Fatalf("config has no %s:\n%s", url, text)
	}
	text = []byte(strings.Replace(string(text), url,
		fmt.Sprintf("sentinel: {master: rmad, addresses: [%q]}, replica_timeout: 300ms", sentinel.Addr), 1))
	if err := os.WriteFile(cfgPath, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.MinReplicas != 1 {
		t.Fatalf("redis.min_replicas %d with Sentinel, want the default 1", cfg.Redis.MinReplicas)
	}

	logs := &testenv.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (last 24 KiB):\n%s", logs.Tail(24<<10))
		}
	})
	(&harness{cfg: cfg, logs: logs}).start(t)

	const before, during = 6, 6
	mails := crashTestMails(t, before+during, fmt.Sprintf("fo%d", time.Now().UnixNano()%1_000_000))
	byID := map[string]*crashMail{}
	for _, m := range mails {
		byID[m.id] = m
	}
	replied := &replyTracker{t: t, sink: sink, byID: byID}

	// Replication working: answered as usual.
	for _, m := range mails[:before] {
		box.append(t, m.raw)
	}
	testenv.Eventually(t, waitLong, "the first mails answered", func() bool {
		return replied.count() == before && box.count(box.in) == 0
	})

	// Replication held: taken in and numbered on the master, but neither moved nor answered.
	proxy.Hold()
	for _, m := range mails[before:] {
		box.append(t, m.raw)
	}
	onMaster := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer onMaster.Close()
	// Every held mail is taken in; numbers are reserved for as many as the workers hold (the
	// queue retries the entries it holds, not confirmed, before it reads new ones, so with 4
	// workers busy on unconfirmed commits the other held entries wait): at least one number the
	// replica never saw is what the failover needs.
	seqKey := fmt.Sprintf("%s{rma}:seq:%d", prefix, fixturesDay.Year())
	testenv.Eventually(t, waitLong, "the held mails taken in and numbered on the master", func() bool {
		info, err := onMaster.XInfoStream(ctx, prefix+"inbox").Result()
		if err != nil || info.EntriesAdded < before+during {
			return false
		}
		n, _ := onMaster.Get(ctx, seqKey).Int()
		return n > before
	})
	if !strings.Contains(logs.String(), "not confirmed by the replicas") {
		testenv.Eventually(t, waitLong, "the log says why", func() bool {
			return strings.Contains(logs.String(), "not confirmed by the replicas")
		})
	}
	if n := replied.count(); n != before {
		t.Fatalf("%d mails answered while replication was held, want %d", n, before)
	}
	if n := box.count(box.in); n != during {
		t.Fatalf("INBOX holds %d mails while replication was held, want %d (none moved)", n, during)
	}

	// The master dies with what the replica never got; Sentinel promotes the replica.
	heldNumbers, _ := onMaster.Get(ctx, seqKey).Int()
	heldNumbers -= before
	failedAt := time.Now()
	master.Stop()
	proxy.Close()
	testenv.Eventually(t, waitLong, "sentinel promoted the replica", func() bool {
		addr, err := sentinel.MasterAddr(ctx)
		return err == nil && addr == replica.Addr
	})
	promoted := time.Since(failedAt)
	// The old master comes back and Sentinel makes it the new master's replica, so min_replicas
	// can be met again.
	master.Start()

	testenv.Eventually(t, 3*time.Minute, "every mail answered after the failover", func() bool {
		return replied.count() == before+during && box.count(box.in) == 0
	})
	t.Logf("%d numbers reserved on the master only; replica promoted %v after the master died; all %d mails answered %v after it died",
		heldNumbers, promoted.Round(time.Millisecond), before+during, time.Since(failedAt).Round(time.Millisecond))

	// No mail lost: every one filed once as processed and answered; no number given twice.
	want := map[string]bool{}
	for id := range byID {
		want[id] = true
	}
	compareSets(t, "processed folder", box.messageIDs(t, box.done), want)
	given := map[string]string{}
	for _, m := range mails {
		ids := map[string]bool{}
		for _, r := range m.replies {
			ids[r.MessageID] = true
			rows := readRows(t, r.CSV)
			if len(rows) != 1 || rows[0]["result"] != "accepted" || rows[0]["rma_number"] == "" {
				t.Errorf("%s: reply rows %v, want one accepted row with a number", m.id, rows)
				continue
			}
			n := rows[0]["rma_number"]
			if prev, ok := given[n]; ok && prev != m.id {
				t.Errorf("%s given twice: to %s and %s", n, prev, m.id)
			}
			given[n] = m.id
		}
		if len(ids) != 1 {
			t.Errorf("%s: answered %d times with %d Message-IDs", m.id, len(m.replies), len(ids))
		}
	}
	if len(given) != before+during {
		t.Errorf("%d distinct numbers in the replies, want %d", len(given), before+during)
	}
	if !strings.Contains(logs.String(), "numbering counter was below the highest number issued") {
		t.Errorf("the log does not say the counter was raised after the failover")
	}
	checkNoDeadLetters(ctx, t, onNewMaster(t, replica.Addr), prefix)
}

func onNewMaster(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
