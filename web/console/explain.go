package console

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/explain"
)

// explainField is the upload's form field.
const explainField = "mail"

type explainData struct {
	Locale string            // for the shared "explained" part
	Errors map[string]string // form field → message
	Result *explain.Result
	Text   string // rmad explain's text for the mail
}

// maxUpload is the largest .eml the explain page takes: the daemon's limits.max_message_bytes.
func (c *Console) maxUpload() int64 {
	if ex := c.cfg.Explainer; ex != nil && ex.Config != nil && ex.Config.Limits.MaxMessageBytes > 0 {
		return ex.Config.Limits.MaxMessageBytes
	}
	return config.DefaultMaxMessageBytes
}

// bodyLimit is how much of a request's body the console reads.
func (c *Console) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && r.URL.Path == "/console/explain" {
		return c.maxUpload() + maxFormBytes
	}
	return maxFormBytes
}

// explainForm serves GET /console/explain.
func (c *Console) explainForm(w http.ResponseWriter, r *http.Request, v *view) {
	c.renderExplain(w, v, http.StatusOK, explainData{})
}

func (c *Console) renderExplain(w http.ResponseWriter, v *view, status int, d explainData) {
	v.Title = c.wordIn(v.Locale, "nav.explain")
	d.Locale = v.Locale
	v.Data = d
	c.render(w, status, "explain", v, "")
}

// explain serves POST /console/explain (multipart, the csrf field before the file): the mail
// goes through the daemon's parser and rules, without the store, and the page shows what
// `rmad explain` prints for it. Nothing is stored or sent.
func (c *Console) explain(w http.ResponseWriter, r *http.Request, v *view) {
	fail := func(status int, key string, args ...any) {
		c.renderExplain(w, v, status, explainData{Errors: map[string]string{explainField: fmt.Sprintf(c.wordIn(v.Locale, key), args...)}})
	}
	if c.cfg.Explainer == nil {
		c.render(w, http.StatusServiceUnavailable, "error", v, "error.unavailable")
		return
	}
	part := v.upload
	if part == nil || part.FormName() != explainField {
		fail(http.StatusUnprocessableEntity, "explain.no_file")
		return
	}
	max := c.maxUpload()
	raw, err := io.ReadAll(io.LimitReader(part, max+1))
	switch {
	case err != nil:
		fail(http.StatusBadRequest, "explain.unreadable", err.Error())
		return
	case int64(len(raw)) > max:
		fail(http.StatusRequestEntityTooLarge, "explain.too_big", byteSize(max))
		return
	case len(bytes.TrimSpace(raw)) == 0:
		fail(http.StatusUnprocessableEntity, "explain.empty")
		return
	}
	name := part.FileName()
	res, err := c.cfg.Explainer.Explain(name, bytes.NewReader(raw))
	if err != nil {
		fail(http.StatusUnprocessableEntity, "explain.unreadable", err.Error())
		return
	}
	var text strings.Builder
	c.cfg.Explainer.WriteText(&text, res)
	c.log.Info().Str("user", v.User.Username).Str("action", "explain").Str("message_id", res.MessageID).
		Str("partner", res.Partner).Str("kind", string(res.Kind)).Msg("mail explained")
	c.renderExplain(w, v, http.StatusOK, explainData{Result: res, Text: text.String()})
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// readMultipart reads a multipart/form-data POST's fields into r.PostForm up to its first
// file, which it returns unread so the handler streams it (an upload is never buffered to
// disk); fields after the file are not read. nil, nil when the form has no file.
func readMultipart(r *http.Request) (*multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	r.PostForm = map[string][]string{}
	r.Form = r.PostForm
	var size int64
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if p.FileName() != "" {
			return p, nil
		}
		b, err := io.ReadAll(io.LimitReader(p, maxFormBytes-size+1))
		if err != nil {
			return nil, err
		}
		if size += int64(len(b)); size > maxFormBytes {
			return nil, fmt.Errorf("form fields over %d bytes", maxFormBytes)
		}
		r.PostForm.Add(p.FormName(), string(b))
	}
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}
