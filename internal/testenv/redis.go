package testenv

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddr returns the host:port of the Redis the tests share: the one scripts/test.sh started
// ($RMAD_TEST_REDIS), or else a private redis-server this test binary starts on first use (so
// `go test ./store/` works without make) and Main stops. Without redis-server the test fails:
// CI must never skip such a test silently.
func RedisAddr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("RMAD_TEST_REDIS"); addr != "" {
		return addr
	}
	shared.once.Do(func() {
		bin, err := redisServer()
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "rmad-test-redis-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		shared.cmd, shared.err = launchRedis(bin, dir, 0, "--appendonly", "yes")
		shared.addr = redisAddr(shared.cmd)
	})
	if shared.err != nil {
		t.Fatalf("RMAD_TEST_REDIS is not set and no private redis-server could be started: %v", shared.err)
	}
	return shared.addr
}

// shared is the redis-server RedisAddr started, if it had to.
var shared struct {
	once sync.Once
	cmd  *exec.Cmd
	dir  string
	addr string
	err  error
}

func stopSharedRedis() {
	if shared.cmd != nil {
		kill(shared.cmd)
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// RedisServer returns the redis-server binary tests run: $RMAD_TEST_REDIS_SERVER (scripts/test.sh
// sets it), else redis-server from $PATH. The test fails when there is none.
func RedisServer(t testing.TB) string {
	t.Helper()
	bin, err := redisServer()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func redisServer() (string, error) {
	if bin := os.Getenv("RMAD_TEST_REDIS_SERVER"); bin != "" {
		return bin, nil
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		return bin, nil
	}
	return "", fmt.Errorf("redis-server is not installed: install the Debian package redis-server, or run `make test`, which does")
}

// Redis is a redis-server of a test's own, for what the shared one must not suffer: being
// stopped and restarted, running without AOF or starved of memory, cluster mode, a password.
// Its data dir survives a Stop, so a restart replays what AOF wrote. It is stopped when the
// test ends.
type Redis struct {
	Addr string // 127.0.0.1:Port
	Port int    // Port+10000 was free too when it started (a cluster node's bus port)
	t    testing.TB
	dir  string
	bin  string
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server with AOF (fsync always) on a free loopback port and
// waits until it answers; args are extra server options, after the defaults so that they win
// ("--appendonly", "no"; "--maxmemory", "2mb"; "--cluster-enabled", "yes" ...).
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	port := FreePortPair(t)
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, t: t, dir: t.TempDir(), bin: RedisServer(t),
		args: append([]string{"--appendonly", "yes", "--appendfsync", "always"}, args...)}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on its port and data dir and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	cmd, err := launchRedis(r.bin, r.dir, r.Port, r.args...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
}

// Stop kills the server (SIGKILL, as a crash would); Start brings it back. Stopping a stopped
// one is fine.
func (r *Redis) Stop() {
	if r.cmd != nil {
		kill(r.cmd)
		r.cmd = nil
	}
}

// Log is the server's log so far (for failure messages).
func (r *Redis) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return strings.TrimSpace(string(b))
}

// FreePortPair finds a loopback port p with p+10000 free too (a cluster node's bus port).
func FreePortPair(t testing.TB) int {
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

// launchRedis starts bin on 127.0.0.1:port (0: a free one) in dir and waits until it answers.
func launchRedis(bin, dir string, port int, args ...string) (*exec.Cmd, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	all := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log")}, args...)
	cmd := exec.Command(bin, all...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// PING answers LOADING while the AOF is read: wait for a real PONG (or NOAUTH when
		// the server wants a password).
		err := c.Ping(context.Background()).Err()
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return cmd, nil
		}
		if time.Now().After(deadline) {
			kill(cmd)
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return nil, fmt.Errorf("private redis-server on port %d did not start:\n%s", port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisAddr is the address launchRedis gave cmd (its --port argument).
func redisAddr(cmd *exec.Cmd) string {
	if cmd == nil {
		return ""
	}
	for i, a := range cmd.Args {
		if a == "--port" && i+1 < len(cmd.Args) {
			return "127.0.0.1:" + cmd.Args[i+1]
		}
	}
	return ""
}

func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}
