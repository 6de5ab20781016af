package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// testPrefix keeps each test's keys apart on the shared test Redis.
func testPrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

func testClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	c, err := Connect(context.Background(), config.Redis{URL: "redis://" + testenv.RedisAddr(t) + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newTestStore(t testing.TB) *Store {
	t.Helper()
	return New(testClient(t), testPrefix(t))
}

var testNow = time.Date(2026, 3, 21, 10, 0, 0, 0, time.UTC)

// mailSub is a one-partner mail submission with the given items.
func mailSub(partner, msgID string, items ...rma.Item) rma.Submission {
	return rma.Submission{
		Kind: rma.KindSubmission, PartnerID: partner, Items: items,
		Source: rma.Source{Channel: "mail", Mailbox: "partners", UIDValidity: 7, UID: 42,
			MessageID: msgID, RawSHA256: strings.Repeat("ab", 32)},
	}
}

// accepted is what rules would decide for an in-house item.
func accepted(it rma.Item) rma.Decision {
	return rma.Decision{Line: it.Line, Item: it, Result: rma.ResultAccepted,
		Route: rma.Route{Handling: rma.HandlingInHouse}, Warranty: rma.Warranty{Status: rma.WarrantyIn},
		ClaimType: "defective", Quantity: 1}
}

func decide(items []rma.Item) []rma.Decision {
	ds := make([]rma.Decision, len(items))
	for i, it := range items {
		ds[i] = accepted(it)
	}
	return ds
}

func item(line int, own, serial string) rma.Item {
	return rma.Item{Line: line, EAN: "5901234123457", Serial: serial, OwnNumber: own,
		PurchaseDate: "2026-01-10", Description: "does not power on after firmware update"}
}

// privateRedis is a redis-server of the test's own, for what the shared one must not suffer
// (being killed, losing its AOF setting).
type privateRedis struct {
	t    testing.TB
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
}

func startPrivateRedis(t testing.TB, dir string, args ...string) *privateRedis {
	t.Helper()
	if os.Getenv("RMAD_TEST_REDIS_SERVER") == "" {
		t.Fatal("RMAD_TEST_REDIS_SERVER is not set: run the tests with `make test` (scripts/test.sh)")
	}
	r := &privateRedis{t: t, dir: dir, port: freePortPair(t), args: args}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	args := append([]string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	r.cmd = exec.Command(os.Getenv("RMAD_TEST_REDIS_SERVER"), args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// PING answers LOADING while the AOF is read: wait for a real PONG.
		err := c.Ping(context.Background()).Err()
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("private redis-server did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server the hard way (SIGKILL), as a crash would.
func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// freePortPair finds a loopback port p with p+10000 free too (a cluster node's bus port).
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 20000 + mrand.IntN(30000)
		a, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
		_ = a.Close()
		if err != nil {
			continue
		}
		_ = b.Close()
		return p
	}
	t.Fatal("no free port pair")
	return 0
}
