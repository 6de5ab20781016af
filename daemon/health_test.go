package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
)

// healthLook is one GET /healthz and one GET /metrics.
type healthLook struct {
	code    int
	status  any
	checks  map[string]map[string]any
	metrics string
}

func lookHealth(t *testing.T, d *Daemon) healthLook {
	t.Helper()
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	var body struct {
		Status any                       `json:"status"` // "ok", "degraded"; 503 in the problem answer
		Checks map[string]map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /healthz: %v: %s", err, w.Body)
	}
	m := httptest.NewRecorder()
	d.Handler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	return healthLook{code: w.Code, status: body.Status, checks: body.Checks, metrics: m.Body.String()}
}

// down says whether the look shows component down everywhere an admin or alert would see it:
// 503, the component's state with why and since, and its gauges.
func (h healthLook) down(component string) bool {
	c := h.checks[component]
	return h.code == 503 && c["state"] == "down" && c["why"] != nil && c["since"] != nil &&
		strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_up{component=%q} 0`, component)) &&
		strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_state{component=%q,state="down"} 1`, component))
}

func (h healthLook) ok() bool {
	if h.code != 200 || h.status != "ok" {
		return false
	}
	for name, c := range h.checks {
		if c["state"] != "ok" || !strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_up{component=%q} 1`, name)) {
			return false
		}
	}
	return true
}

// healthWatch looks at a daemon's health again and again.
type healthWatch struct {
	t    *testing.T
	d    *Daemon
	last healthLook
}

// waitOK waits until every component is ok.
func (w *healthWatch) waitOK(after string) {
	w.t.Helper()
	testenv.Eventually(w.t, 30*time.Second, "healthz ok "+after, func() bool { w.last = lookHealth(w.t, w.d); return w.last.ok() })
}

// throughout waits until component is down, then samples the health for length while the
// outage lasts: every look must show it down, with the same since.
func (w *healthWatch) throughout(component string, length time.Duration) {
	w.t.Helper()
	testenv.Eventually(w.t, 30*time.Second, component+" down", func() bool { w.last = lookHealth(w.t, w.d); return w.last.down(component) })
	since := w.last.checks[component]["since"]
	for end := time.Now().Add(length); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if w.last = lookHealth(w.t, w.d); !w.last.down(component) || w.last.checks[component]["since"] != since {
			w.t.Fatalf("during the %s outage: %d %+v", component, w.last.code, w.last.checks)
		}
	}
}

// watchHealth starts a daemon on e, with old in its config replaced by repl when old is set, and
// a healthWatch on it that logs the last look and the daemon's log if the test fails.
func watchHealth(t *testing.T, e *schEnv, consumer, old, repl string) *healthWatch {
	t.Helper()
	if old != "" {
		text, err := os.ReadFile(e.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), old) {
			t.Fatalf("config has no %s", old)
		}
		if err := os.WriteFile(e.cfgPath, []byte(strings.Replace(string(text), old, repl, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, logs := e.start(consumer, Options{})
	w := &healthWatch{t: t, d: d}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last look: %d %v %+v\nlog:\n%s", w.last.code, w.last.status, w.last.checks, logs.Tail(8<<10))
		}
	})
	return w
}

// /healthz and the gauges show each outage (SMTP, Redis, the mailbox's IMAP server) for as long
// as it lasts, with why and since when, and ok again after it.
func TestHealthShowsEachOutage(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	e := newSchEnvAt(t, schNever, r.Addr)
	w := watchHealth(t, e, "health", "", "")
	d := w.d
	w.waitOK("at start")

	e.smtp.Stop()
	msg := outbound.Message{ID: "health@distributor.example", From: "rma@distributor.example",
		To: []string{"a@example.com"}, Raw: []byte("Subject: t\r\n\r\nbody\r\n")}
	if err := d.pipe.send(context.Background(), "", msg); err != nil {
		t.Fatal(err)
	}
	w.throughout("smtp", 1500*time.Millisecond)
	if why := w.last.checks["smtp"]["why"].(string); !strings.Contains(why, "connect") {
		t.Errorf("smtp down because %q; want the connection failure", why)
	}
	if err := e.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitOK("after the SMTP outage")
	if _, err := e.smtp.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	w.throughout("redis", 1500*time.Millisecond)
	r.Start()
	w.waitOK("after the Redis outage")

	e.imap.Stop()
	w.throughout("mailbox:partners", 1500*time.Millisecond)
	if err := e.imap.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitOK("after the IMAP outage")
}

// A Cluster master down: redis (and the queues, which live there) are down on /healthz and in
// the gauges for the whole outage, both before the other nodes mark it failed (it does not
// answer) and after (the cluster refuses every command, CLUSTERDOWN), and ok again once it is
// back.
func TestHealthShowsClusterNodeDown(t *testing.T) {
	t.Parallel()
	const nodeTimeout = 2 * time.Second
	nodes := testenv.StartCluster(t, "--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10))
	e := newSchEnvAt(t, schNever, nodes[0].Addr)
	// No replicas in this cluster: nothing to wait for (the Cluster default is 1).
	w := watchHealth(t, e, "health-cluster", fmt.Sprintf(`url: "redis://%s/0"`, nodes[0].Addr),
		fmt.Sprintf(`cluster: {addresses: ["%s"]}, min_replicas: 0`, strings.Join(testenv.ClusterAddrs(nodes), `", "`)))
	w.waitOK("at start")

	nodes[1].Stop()
	w.throughout("redis", 3*nodeTimeout)
	for _, q := range []string{"queue:inbox", "queue:outbox"} {
		if !w.last.down(q) {
			t.Errorf("%s not down while a Cluster master is: %+v", q, w.last.checks[q])
		}
	}
	ok := redis.NewClient(&redis.Options{Addr: nodes[0].Addr})
	defer ok.Close()
	if info, _ := ok.ClusterInfo(context.Background()).Result(); !strings.Contains(info, "cluster_state:fail") {
		t.Errorf("the other masters did not mark the node failed within %v: %s", 3*nodeTimeout, info)
	}
	nodes[1].Start()
	w.waitOK("after the node is back")
}

// With redis.min_replicas, replicas that do not confirm writes (the replication stream held)
// keep rmad from moving mail out of the mailbox and from queueing replies: redis is down on
// /healthz and in the gauges for as long as they lag, and ok once they have caught up.
func TestHealthShowsReplicasBehind(t *testing.T) {
	t.Parallel()
	master := testenv.StartRedis(t)
	proxy := testenv.StartProxy(t, master.Addr)
	testenv.StartReplica(t, proxy.Addr)
	e := newSchEnvAt(t, schNever, master.Addr)
	w := watchHealth(t, e, "health-replicas", "key_prefix:", "min_replicas: 1, replica_timeout: 300ms, key_prefix:")
	w.waitOK("at start")

	proxy.Hold()
	w.throughout("redis", 1500*time.Millisecond)
	if why, _ := w.last.checks["redis"]["why"].(string); !strings.Contains(why, "replicas") || !strings.Contains(why, "redis.min_replicas") {
		t.Errorf("redis down because %q; want the replicas that did not confirm", why)
	}
	proxy.Release()
	w.waitOK("after the replica caught up")
}
