package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/store"
)

// A second instance stands by while the first holds a mailbox's lease, and a lease under the
// old name without an expiry (left by hand) never blocks (see TestMailboxLeaseAcrossUpgrade).
func TestLeaseLocker(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":"
	l := &leaseLocker{leases: store.New(rdb, prefix).Leases(), log: zerolog.Nop()}

	if err := rdb.Set(ctx, prefix+"lease:imap:imap:partners", "by hand", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), prefix+"lease:imap:imap:partners") })
	first, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lost, release, err := l.Lock(first, "partners")
	if err != nil {
		t.Fatalf("a lease without expiry under the old name blocked the mailbox: %v", err)
	}
	second, cancel2 := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel2()
	if _, _, err := l.Lock(second, "partners"); err == nil {
		t.Fatal("a second instance took the mailbox while the first held it")
	}
	select {
	case <-lost:
		t.Fatal("lease lost")
	default:
	}
	release()
	if n, _ := rdb.Exists(ctx, prefix+"lease:imap:partners").Result(); n != 0 {
		t.Error("the lease is still there after release")
	}
}
