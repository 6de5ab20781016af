package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrInstanceRunning is returned by ClaimInstance while another live process runs under the
// same instance name.
var ErrInstanceRunning = errors.New("another rmad process runs under this instance name")

// Instance is this process's claim on its instance name: a key holding a random process id and
// a heartbeat count, renewed every beat. The name owns the mailbox leases (InstanceLeases), so a
// restarted instance takes its leases back at once; the claim makes sure only one live process
// uses a name at a time.
type Instance struct {
	c     redis.UniversalClient
	key   string
	name  string
	id    string
	beat  time.Duration
	count int64

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// instanceTTL: a claim not renewed for this many beats expires by itself.
const instanceTTL = 10

// instanceBeatScript renews the claim if it is still ours (or expired and free): KEYS[1];
// ARGV id, new value, ttl ms. 1 renewed, 0 someone else holds it.
var instanceBeatScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// instanceReleaseScript deletes the claim if it is ours: KEYS[1]; ARGV id.
var instanceReleaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then return redis.call('DEL', KEYS[1]) end
return 0
`)

// ClaimInstance claims the instance name for this process, renewing the claim every beat. When
// a claim is there already it watches it for 2½ beats: if it changes, a live process uses the
// name and ErrInstanceRunning says so; if not, that process is gone (killed) and this one takes
// over. The caller must Release the claim and stop when Lost is closed.
func (s *Store) ClaimInstance(ctx context.Context, name string, beat time.Duration) (*Instance, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	in := &Instance{c: s.c, key: s.k.prefix + "instance:" + name, name: name, id: hex.EncodeToString(rnd[:]), beat: beat,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	ttl := (instanceTTL * beat).Milliseconds()
	for {
		ok, err := s.c.SetNX(ctx, in.key, in.value(), time.Duration(ttl)*time.Millisecond).Result()
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", name, err)
		}
		if ok {
			break
		}
		seen, err := s.c.Get(ctx, in.key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(beat * 5 / 2):
		}
		// Take it over from the process that stopped beating.
		n, err := takeScript.Run(ctx, s.c, []string{in.key}, seen, in.value(), ttl).Int()
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", name, err)
		}
		if n == 1 {
			break
		}
		now, _ := s.c.Get(ctx, in.key).Result()
		holder, _, _ := strings.Cut(now, ":")
		return nil, fmt.Errorf("instance %q: %w (process %s beats every %s); give each rmad on a host its own RMAD_INSTANCE",
			name, ErrInstanceRunning, holder, beat)
	}
	go in.run()
	return in, nil
}

func (in *Instance) value() string { return in.id + ":" + strconv.FormatInt(in.count, 10) }

// Name is the instance name.
func (in *Instance) Name() string { return in.name }

// Lost is closed when another process took the name over (this one did not beat for too
// long, and was taken for dead).
func (in *Instance) Lost() <-chan struct{} { return in.lost }

func (in *Instance) run() {
	defer close(in.done)
	t := time.NewTicker(in.beat)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		}
		in.count++
		ctx, cancel := context.WithTimeout(context.Background(), in.beat)
		n, err := instanceBeatScript.Run(ctx, in.c, []string{in.key}, in.id, in.value(), (instanceTTL * in.beat).Milliseconds()).Int()
		cancel()
		if err == nil && n == 0 {
			in.lostOnce.Do(func() { close(in.lost) })
			return
		}
		// A Redis error: beat again next time; the claim lives instanceTTL beats.
	}
}

// Release stops beating and deletes the claim if it is still ours, so a restart under the same
// name starts at once.
func (in *Instance) Release(ctx context.Context) error {
	in.stopOnce.Do(func() { close(in.stop) })
	<-in.done
	if err := instanceReleaseScript.Run(ctx, in.c, []string{in.key}, in.id).Err(); err != nil {
		return fmt.Errorf("release instance %s: %w", in.name, err)
	}
	return nil
}
