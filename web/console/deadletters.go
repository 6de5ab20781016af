package console

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rmad/rmad/queue"
)

type deadLetterData struct {
	Letters []queue.DeadLetter
	Done    string
}

// admin lets only admins through; others get 403.
func (c *Console) admin(next authed) authed {
	return func(w http.ResponseWriter, r *http.Request, v *view) {
		if !v.Admin() {
			c.log.Warn().Str("user", v.User.Username).Str("path", r.URL.Path).Msg("admin page refused")
			c.render(w, http.StatusForbidden, "error", v, "error.admin_only")
			return
		}
		next(w, r, v)
	}
}

// deadLetters serves GET /console/dead-letters (admins): the inbox and outbox messages that
// failed for good, with why and when.
func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request, v *view) {
	c.renderDeadLetters(w, r, v, "")
}

func (c *Console) renderDeadLetters(w http.ResponseWriter, r *http.Request, v *view, done string) {
	d := deadLetterData{Done: done}
	for _, q := range c.cfg.DeadLetters {
		dls, err := q.DeadLetters(r.Context(), 200)
		if err != nil {
			c.unavailable(w, v, err)
			return
		}
		d.Letters = append(d.Letters, dls...)
	}
	v.Title = c.wordIn(v.Locale, "nav.dead_letters")
	v.Data = d
	c.render(w, http.StatusOK, "deadletters", v, "")
}

// retryDeadLetter serves POST /console/dead-letters/retry (admins) with stream and id, or
// all=1: the messages go back on their queue.
func (c *Console) retryDeadLetter(w http.ResponseWriter, r *http.Request, v *view) {
	stream, id, all := r.PostForm.Get("stream"), strings.TrimSpace(r.PostForm.Get("id")), r.PostForm.Get("all") != ""
	n := 0
	for _, q := range c.cfg.DeadLetters {
		if all {
			k, err := q.RetryAll(r.Context())
			if err != nil {
				c.unavailable(w, v, err)
				return
			}
			n += k
			continue
		}
		dls, err := q.DeadLetters(r.Context(), 0)
		if err != nil {
			c.unavailable(w, v, err)
			return
		}
		for _, dl := range dls {
			if dl.ID == id && dl.Stream == stream {
				if err := q.Retry(r.Context(), id); err != nil {
					c.unavailable(w, v, err)
					return
				}
				n++
			}
		}
	}
	c.log.Info().Str("user", v.User.Username).Str("action", "dead_letter_retry").Str("stream", stream).Str("id", id).Int("count", n).Msg("dead letters retried")
	c.renderDeadLetters(w, r, v, c.wordIn(v.Locale, "dl.retried")+" "+strconv.Itoa(n))
}

type deadLetterView struct {
	Letter  queue.DeadLetter
	Inbox   bool   // a partner's mail: explained
	Message string // why there is no explanation, when there is none
	Explain explainData
}

// deadLetter serves GET /console/dead-letters/{stream}/{id} (admins): one dead letter with,
// for an inbox mail, what rmad saw in it — the same view as `rmad explain` and the explain
// page (package explain), without storing or sending anything.
func (c *Console) deadLetter(w http.ResponseWriter, r *http.Request, v *view) {
	stream, id := r.PathValue("stream"), r.PathValue("id")
	var q *queue.Queue
	for _, x := range c.cfg.DeadLetters {
		if x.Name() == stream {
			q = x
		}
	}
	if q == nil {
		c.render(w, http.StatusNotFound, "error", v, "error.not_found")
		return
	}
	dl, payload, err := q.DeadLetter(r.Context(), id)
	var d deadLetterView
	switch {
	case errors.Is(err, queue.ErrNotFound):
		c.render(w, http.StatusNotFound, "error", v, "dl.not_found")
		return
	case errors.Is(err, queue.ErrPayloadGone):
		d.Message = c.wordIn(v.Locale, "dl.payload_gone")
	case err != nil:
		c.unavailable(w, v, err)
		return
	case stream != queue.Inbox:
		d.Message = c.wordIn(v.Locale, "dl.not_a_mail")
	case c.cfg.Explainer == nil:
		d.Message = c.wordIn(v.Locale, "error.unavailable")
	default:
		d.Inbox = true
		res, err := c.cfg.Explainer.Explain(dl.ID+".eml", bytes.NewReader(payload))
		if err != nil {
			d.Message = fmt.Sprintf(c.wordIn(v.Locale, "explain.unreadable"), err.Error())
			break
		}
		var text strings.Builder
		c.cfg.Explainer.WriteText(&text, res)
		d.Explain = explainData{Locale: v.Locale, Result: res, Text: text.String()}
	}
	d.Letter = dl
	c.log.Info().Str("user", v.User.Username).Str("action", "dead_letter_view").Str("stream", stream).Str("id", id).Msg("dead letter opened")
	v.Title = c.wordIn(v.Locale, "nav.dead_letters")
	v.Data = d
	c.render(w, http.StatusOK, "deadletter", v, "")
}
