package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Proxy is a TCP proxy on a free loopback port that can hold what flows through it: put
// between a master and its replica (the replica's replicaof points at the proxy), Hold stalls
// replication both ways, as a slow or broken link would, while both servers stay up.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	held  bool
	open  *sync.Cond // signalled on Release and Cut
	conns map[net.Conn]struct{}
	cuts  int // bumped by Cut: data held before it is dropped
}

// StartProxy forwards connections on a new loopback port to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.open = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		cut := p.cuts
		p.mu.Unlock()
		go p.pipe(in, out, cut)
		go p.pipe(out, in, cut)
	}
}

// pipe copies src to dst, waiting while the proxy holds; either side ending ends both.
func (p *Proxy) pipe(src, dst net.Conn, cut int) {
	defer func() { _ = src.Close(); _ = dst.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.held && p.cuts == cut {
				p.open.Wait()
			}
			dropped := p.cuts != cut
			p.mu.Unlock()
			if dropped {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Hold stops passing data on (it waits in the proxy and in the kernel's buffers).
func (p *Proxy) Hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// Release passes on what was held and what follows.
func (p *Proxy) Release() {
	p.mu.Lock()
	p.held = false
	p.open.Broadcast()
	p.mu.Unlock()
}

// Cut closes every connection through the proxy, dropping what it held; new connections are
// still accepted (held, if the proxy holds).
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cuts++
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.open.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and cuts its connections.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.Cut()
}

// StartReplica starts a private redis-server (as StartRedis, with args) that replicates
// master (host:port: a server, or a Proxy in front of one) and waits until its link is up.
func StartReplica(t testing.TB, master string, args ...string) *Redis {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	r := StartRedis(t, append([]string{"--replicaof", host, port}, args...)...)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	Eventually(t, 20*time.Second, "replica link to "+master+" up", func() bool {
		info, err := c.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return r
}

// Sentinel is a private Redis Sentinel watching one master, stopped when the test ends.
type Sentinel struct {
	Addr   string
	Master string // the name it monitors the master by
	dir    string
	cmd    *exec.Cmd
}

// StartSentinel starts a Sentinel (redis-server --sentinel) on a free loopback port that
// monitors master (host:port) as name with quorum 1, taking it for down after downAfter (a
// failover takes about that long plus a second or two). Its failover-timeout is 2 minutes, so
// for that long it leaves alone a replica that replicates another address than the master's
// (a Proxy): a shorter one makes it point the replica at the master itself.
func StartSentinel(t testing.TB, name, master string, downAfter time.Duration) *Sentinel {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sport := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Sentinel{Addr: fmt.Sprintf("127.0.0.1:%d", sport), Master: name, dir: t.TempDir()}
	conf := filepath.Join(s.dir, "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
protected-mode no
dir %s
logfile %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 120000
sentinel parallel-syncs %s 1
`, sport, s.dir, filepath.Join(s.dir, "sentinel.log"), name, host, port, name, downAfter.Milliseconds(), name, name)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(RedisServer(t), conf, "--sentinel")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test binary
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis sentinel: %v", err)
	}
	t.Cleanup(func() { kill(s.cmd) })
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	Eventually(t, 20*time.Second, "sentinel watching "+master, func() bool {
		addr, err := c.GetMasterAddrByName(context.Background(), name).Result()
		return err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == master
	})
	return s
}

// MasterAddr is the master Sentinel names now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	addr, err := c.GetMasterAddrByName(ctx, s.Master).Result()
	if err != nil {
		return "", err
	}
	if len(addr) != 2 {
		return "", fmt.Errorf("sentinel answered %v", addr)
	}
	return net.JoinHostPort(addr[0], addr[1]), nil
}

// Log is the Sentinel's log so far (for failure messages).
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
	return strings.TrimSpace(string(b))
}

// KnowsReplica reports whether the Sentinel has found addr (host:port) as a replica of its
// master; it must have before it can promote it.
func (s *Sentinel) KnowsReplica(ctx context.Context, addr string) bool {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	rs, err := c.Replicas(ctx, s.Master).Result()
	if err != nil {
		return false
	}
	for _, r := range rs {
		if net.JoinHostPort(r["ip"], r["port"]) == addr && !strings.Contains(r["flags"], "disconnected") {
			return true
		}
	}
	return false
}
