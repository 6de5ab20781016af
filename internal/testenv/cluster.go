package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartCluster starts a three-master Redis Cluster (no replicas) of private servers, each as
// StartRedis with args, and waits until every node reports cluster_state:ok. A node stopped
// with Stop and brought back with Start rejoins with its slots (its nodes.conf stays in its
// dir). Creating the cluster needs redis-cli (Debian package redis-tools).
func StartCluster(t testing.TB, args ...string) []*Redis {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if cli = filepath.Join(filepath.Dir(RedisServer(t)), "redis-cli"); !exists(cli) {
			t.Fatal("redis-cli is needed to create the test cluster (Debian package redis-tools; scripts/test.sh installs it)")
		}
	}
	var nodes []*Redis
	var addrs []string
	for range 3 {
		r := StartRedis(t, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--appendonly", "yes"}, args...)...)
		nodes = append(nodes, r)
		addrs = append(addrs, r.Addr)
	}
	create := append([]string{"--cluster", "create"}, addrs...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, r := range nodes {
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		Eventually(t, 20*time.Second, "cluster node "+r.Addr+" ready", func() bool {
			info, _ := c.ClusterInfo(context.Background()).Result()
			return strings.Contains(info, "cluster_state:ok")
		})
		_ = c.Close()
	}
	return nodes
}

// ClusterAddrs is the nodes' addresses (for a cluster config).
func ClusterAddrs(nodes []*Redis) []string {
	addrs := make([]string, len(nodes))
	for i, r := range nodes {
		addrs[i] = r.Addr
	}
	return addrs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
