package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server of the test's own (the binary scripts/test.sh names in
// RMAD_TEST_REDIS_SERVER), for tests that stop, restart or starve it. Its data dir survives a
// Stop, so a restart keeps what AOF wrote.
type Redis struct {
	Addr string
	t    testing.TB
	dir  string
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server with AOF (fsync always) on a free loopback port;
// args are extra server options ("--maxmemory", "2mb", ...). It is stopped when the test ends.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	if os.Getenv("RMAD_TEST_REDIS_SERVER") == "" {
		t.Fatal("RMAD_TEST_REDIS_SERVER is not set: run the tests with `make test`")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	r := &Redis{Addr: addr, t: t, dir: t.TempDir(), args: args}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on its address and waits until it answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	r.cmd = exec.Command(os.Getenv("RMAD_TEST_REDIS_SERVER"), args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err() // LOADING while the AOF is read
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.t.Fatalf("private redis-server on %s did not start: %v\n%s", r.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL, as a crash would); Start brings it back.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Log is the server's log so far (for failure messages).
func (r *Redis) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return strings.TrimSpace(string(b))
}
