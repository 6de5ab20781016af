package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/schedule"
)

// outbox collects the mails a job run puts on their way.
type outbox struct {
	mu    sync.Mutex
	mails []outbound.Message
}

func (o *outbox) Put(_ context.Context, m outbound.Message) error {
	o.mu.Lock()
	o.mails = append(o.mails, m)
	o.mu.Unlock()
	return nil
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.mails)
}

// withJobs gives the console a real schedule on the test store, its mails going to ob.
func withJobs(t testing.TB, ob *outbox) envOption {
	return func(c *Config) {
		cfg := config.Defaults()
		cfg.SMTP.From = "rma@distributor.example"
		cfg.Schedule.Location = c.Location
		s, err := schedule.New(schedule.Config{Store: c.Store, Partner: c.Partner, Composer: outbound.NewComposer(&cfg),
			Policy: c.Policy, Schedule: cfg.Schedule, Outbox: ob, Now: c.Now, Log: c.Log})
		if err != nil {
			t.Fatal(err)
		}
		c.Jobs = s
	}
}

// An admin runs the digest right after a status change, in the same minute: the change is in
// it (a run by hand covers changes up to this moment); a second run has nothing to tell.
func TestRunNowDigest(t *testing.T) {
	t.Parallel()
	ob := &outbox{}
	e := newEnv(t, withJobs(t, ob))
	number := e.newRMA(item{serial: "RUN-1"})
	admin := e.signedIn("root", rootPassword)
	wantIn(t, admin.get("/console/"), `href="/console/jobs"`)
	wantStatus(t, admin.get("/console/jobs"), http.StatusOK)

	// A first run tells the new RMA; what follows is about the change after it.
	wantStatus(t, admin.post("/console/jobs/run", "job", schedule.JobDigest), http.StatusOK)
	before := ob.len()

	e.advance(30 * time.Second)
	p := admin.post(rmaLink(number)+"/status", "status", string(rma.StatusReceived), "note", "parcel complete")
	wantStatus(t, p, http.StatusSeeOther)
	e.advance(2 * time.Second) // the same minute as the change
	p = admin.post("/console/jobs/run", "job", schedule.JobDigest)
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, `id="job-summary">Mails put on their way: 1`, "<td>P-GR-001</td>")
	if ob.len() != before+1 {
		t.Fatalf("digest mails: %d, want %d", ob.len(), before+1)
	}
	if !strings.Contains(e.logs.String(), `"action":"run_job"`) || !strings.Contains(e.logs.String(), `"user":"root"`) {
		t.Errorf("no audit line: %s", e.logs.String())
	}
	e.advance(time.Second)
	p = admin.post("/console/jobs/run", "job", schedule.JobDigest)
	wantIn(t, p, `id="job-summary">Mails put on their way: 0`)
	if ob.len() != before+1 {
		t.Fatalf("second run sent again: %d", ob.len())
	}

	// Reminders: runs too (nothing is due yet).
	wantIn(t, admin.post("/console/jobs/run", "job", schedule.JobReminders), "Reminder rules applied: 0")
}

func TestRunNowRefused(t *testing.T) {
	t.Parallel()
	ob := &outbox{}
	e := newEnv(t, withJobs(t, ob))
	e.newRMA(item{serial: "RUN-2"})
	agent := e.signedIn("ann", annPassword)
	wantNotIn(t, agent.get("/console/"), `href="/console/jobs"`)
	wantStatus(t, agent.get("/console/jobs"), http.StatusForbidden)
	wantStatus(t, agent.post("/console/jobs/run", "job", schedule.JobDigest), http.StatusForbidden)

	admin := e.signedIn("root", rootPassword)
	wantStatus(t, admin.post("/console/jobs/run", "job", schedule.JobDigest, "csrf", "forged"), http.StatusForbidden)
	wantStatus(t, admin.post("/console/jobs/run"), http.StatusUnprocessableEntity)
	p := admin.post("/console/jobs/run", "job", "<script>alert(1)</script>")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, `id="job-error">Choose the digest or the reminders.`)
	wantNotIn(t, p, "<script>alert")
	if ob.len() != 0 {
		t.Fatalf("a refused run sent %d mails", ob.len())
	}
	admin.post("/console/logout")
	wantStatus(t, admin.post("/console/jobs/run", "job", schedule.JobDigest), http.StatusForbidden)
}
