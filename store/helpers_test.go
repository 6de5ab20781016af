package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// bothForms runs a commit test on a store that commits in one script (a single server) and on
// one that takes the three steps Redis Cluster needs, on the same server.
func bothForms(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Run("one script", func(t *testing.T) { test(t, newTestStore(t)) })
	t.Run("three steps", func(t *testing.T) {
		s := newTestStore(t)
		s.multiStep = true
		test(t, s)
	})
}
