package console

import (
	"context"
	"net/http"
	"slices"

	"github.com/rmad/rmad/schedule"
)

// JobRunner runs a scheduled job by hand (the daemon's *schedule.Schedule).
type JobRunner interface {
	RunNow(ctx context.Context, job string) (schedule.Report, error)
}

type jobsData struct {
	Jobs   []string
	Errors map[string]string // form field → message
	Report *schedule.Report
}

// jobsPage serves GET /console/jobs (admins): a button per scheduled job.
func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, v *view) {
	c.renderJobs(w, v, http.StatusOK, jobsData{})
}

func (c *Console) renderJobs(w http.ResponseWriter, v *view, status int, d jobsData) {
	d.Jobs = schedule.Jobs
	v.Title = c.wordIn(v.Locale, "nav.jobs")
	v.Data = d
	c.render(w, status, "jobs", v, "")
}

// runJob serves POST /console/jobs/run (admins) with job: the digest or the reminders run at
// once, covering every change up to this moment (schedule.RunNow), and the page says what the
// run did.
func (c *Console) runJob(w http.ResponseWriter, r *http.Request, v *view) {
	job := r.PostForm.Get("job")
	if !slices.Contains(schedule.Jobs, job) {
		c.renderJobs(w, v, http.StatusUnprocessableEntity, jobsData{Errors: map[string]string{"job": c.wordIn(v.Locale, "jobs.unknown")}})
		return
	}
	if c.cfg.Jobs == nil {
		c.render(w, http.StatusServiceUnavailable, "error", v, "error.unavailable")
		return
	}
	// The run finishes even when the browser gives up waiting: what it starts, it records.
	rep, err := c.cfg.Jobs.RunNow(context.WithoutCancel(r.Context()), job)
	if err != nil {
		c.log.Error().Err(err).Str("user", v.User.Username).Str("action", "run_job").Str("job", job).Msg("job run by hand failed")
		c.renderJobs(w, v, http.StatusServiceUnavailable, jobsData{Errors: map[string]string{"job": c.wordIn(v.Locale, "jobs.failed")}})
		return
	}
	c.log.Info().Str("user", v.User.Username).Str("action", "run_job").Str("job", job).Int("mails", len(rep.Mails)).
		Int("applied", len(rep.Applied)).Str("skipped", rep.Skipped).Msg("job run by hand")
	c.renderJobs(w, v, http.StatusOK, jobsData{Report: &rep})
}
