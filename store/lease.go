package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases hands out named leases: one-at-a-time work across rmad instances (a mailbox watcher,
// a cron run). A lease is a key set with NX and a TTL, renewed while held.
type Leases struct {
	c     redis.UniversalClient
	k     keys
	owner string
	named bool // the owner itself is the token: a lease held under it is taken back
}

// NewLeases returns leases under prefix; owner names this instance in the lease's value
// (host and pid are a good choice), for people looking at Redis.
func NewLeases(c redis.UniversalClient, prefix, owner string) *Leases {
	return &Leases{c: c, k: keys{prefix: prefix}, owner: owner}
}

// Leases returns the store's leases, owned by this host and process.
func (s *Store) Leases() *Leases {
	host, _ := os.Hostname()
	return NewLeases(s.c, s.k.prefix, fmt.Sprintf("%s:%d", host, os.Getpid()))
}

// InstanceLeases returns leases owned by the instance name rather than by a process: a lease
// still held under that name (by a process of this instance that died without releasing it)
// is taken back at once instead of waited out. Only for work one process of an instance does
// once at a time (a mailbox), and only while the process holds ClaimInstance's claim on the
// name, which keeps two live processes from sharing it.
func (s *Store) InstanceLeases(instance string) *Leases {
	return &Leases{c: s.c, k: s.k, owner: instance, named: true}
}

// takeScript sets KEYS[1] to a new value when it is free or still holds the value expected:
// ARGV expected, new value, ttl ms. 1 taken, 0 someone else holds it. A lease is taken with its
// own token as both (free, or already ours); an instance claim over the value seen before.
var takeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// Lease is a held lease. It renews itself every ttl/3 until Release, or until it is lost.
type Lease struct {
	c         redis.UniversalClient
	name, key string
	token     string
	ttl       time.Duration

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// renewScript extends the lease if it is still ours: KEYS[1]; ARGV token, ttl ms.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// releaseScript deletes the lease if it is still ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// TryAcquire takes the lease name for ttl if nobody holds it; ok is false when someone does.
// The caller must Release a lease it got, and stop its work when Lost is closed.
func (l *Leases) TryAcquire(ctx context.Context, name string, ttl time.Duration) (*Lease, bool, error) {
	if ttl < 30*time.Millisecond {
		return nil, false, fmt.Errorf("lease %s: ttl %v is too short", name, ttl)
	}
	le := l.newLease(name, ttl)
	var ok bool
	var err error
	if l.named {
		le.token = l.owner
		var n int
		n, err = takeScript.Run(ctx, l.c, []string{le.key}, le.token, le.token, ttl.Milliseconds()).Int()
		ok = n == 1
	} else {
		ok, err = l.c.SetNX(ctx, le.key, le.token, ttl).Result()
	}
	if err != nil {
		return nil, false, fmt.Errorf("lease %s: %w", name, err)
	}
	if !ok {
		return nil, false, nil
	}
	go le.renew()
	return le, true, nil
}

// newLease is a lease not yet taken: its key must be set to its token (NX, ttl), then renew
// started.
func (l *Leases) newLease(name string, ttl time.Duration) *Lease {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	return &Lease{
		c: l.c, name: name, key: l.k.lease(name), ttl: ttl,
		token: l.owner + "/" + hex.EncodeToString(rnd[:]),
		lost:  make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Holder returns who holds the lease name ("" when free).
func (l *Leases) Holder(ctx context.Context, name string) (string, error) {
	v, err := l.c.Get(ctx, l.k.lease(name)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease %s: %w", name, err)
	}
	return v, nil
}

// Remaining is how long the lease name is still held: 0 when it is free. A lease key without an
// expiry (set by hand) counts as free, so it can never block anyone for good.
func (l *Leases) Remaining(ctx context.Context, name string) (time.Duration, error) {
	d, err := l.c.PTTL(ctx, l.k.lease(name)).Result()
	if err != nil {
		return 0, fmt.Errorf("lease %s: %w", name, err)
	}
	return max(d, 0), nil // -2 (no key) and -1 (no expiry) are free
}

// Name is the lease's name.
func (le *Lease) Name() string { return le.name }

// Lost is closed when the lease can no longer be trusted: someone else holds it, or Redis did
// not confirm a renewal for so long that the key may have expired.
func (le *Lease) Lost() <-chan struct{} { return le.lost }

// Release stops renewing and gives the lease up if it is still ours. Calling it more than once
// is harmless.
func (le *Lease) Release(ctx context.Context) error {
	le.stopRenew()
	if err := releaseScript.Run(ctx, le.c, []string{le.key}, le.token).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", le.name, err)
	}
	return nil
}

func (le *Lease) stopRenew() {
	le.stopOnce.Do(func() { close(le.stop) })
	<-le.done
}

func (le *Lease) renew() {
	defer close(le.done)
	every := le.ttl / 3
	t := time.NewTicker(every)
	defer t.Stop()
	confirmed := time.Now() // the key lives at least ttl from when a renewal was sent
	for {
		select {
		case <-le.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		n, err := renewScript.Run(ctx, le.c, []string{le.key}, le.token, le.ttl.Milliseconds()).Int()
		cancel()
		switch {
		case err == nil && n == 1:
			confirmed = sent
		case err == nil:
			le.markLost() // expired and maybe taken by someone else
			return
		case time.Since(confirmed) >= le.ttl-every:
			// Redis unreachable: before the key can expire, stop trusting it.
			le.markLost()
			return
		}
	}
}

func (le *Lease) markLost() { le.lostOnce.Do(func() { close(le.lost) }) }
