package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmad/rmad/rma"
)

// SubmissionBody is a submission over HTTP: the items (with the fields of rma.Fields),
// the proof of purchase as base64 attachments, and whether the partner also gets the
// reply email. Items are objects of string fields; numbers and true/false are accepted too
// (a JSON client may send quantity 2 or receiver_pays true).
type SubmissionBody struct {
	Partner     string                       `json:"partner"`
	Items       []map[string]json.RawMessage `json:"items"`
	Attachments []attachmentBody             `json:"attachments"`
	Notify      bool                         `json:"notify"`
}

type attachmentBody struct {
	Filename      string `json:"filename"`
	ContentType   string `json:"content_type"`
	ContentBase64 string `json:"content_base64"`
}

var submissionFields = []string{"partner", "items", "attachments", "notify"}

const maxAttachments = 20

// DecodeSubmission reads a submission body: exactly one JSON object of the known fields.
func DecodeSubmission(body []byte) (SubmissionBody, error) {
	var in SubmissionBody
	if err := decodeStrict(body, &in, submissionFields); err != nil {
		return in, malformed("%s", err.Error())
	}
	return in, nil
}

// Origin says where a submission came from, for its rma.Submission.
type Origin struct {
	Source  rma.Source
	Subject string    // stands in for a mail subject in replies and the staff copy
	Date    time.Time // when it was received
}

// Submission makes the rma.Submission of a decoded body for partner p: items numbered 1..n
// with their fields trimmed, the proof of purchase found among the attachments, and the
// problems of the whole submission (no_items, too_large beyond maxItems, proof_missing) that
// the rules apply to every item. The error is an *InputError.
func (in SubmissionBody) Submission(p rma.Partner, o Origin, maxItems int) (rma.Submission, error) {
	sub := rma.Submission{
		Kind:      rma.KindSubmission,
		Source:    o.Source,
		Subject:   o.Subject,
		Date:      o.Date.UTC(),
		PartnerID: p.ID,
		Locale:    p.Locale,
	}
	items := in.Items
	if len(items) > maxItems {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeTooLarge, "",
			"reason", "items", "limit", strconv.Itoa(maxItems), "count", strconv.Itoa(len(items))))
		items = items[:maxItems] // every row is rejected anyway; bound the work
	}
	for i, fields := range items {
		it := rma.Item{Line: i + 1}
		for _, name := range sortedKeys(fields) {
			if !slices.Contains(rma.Fields, name) {
				return sub, malformed("items[%d]: unknown field %q; the item fields are %s", i, Clip(name, 64), strings.Join(rma.Fields, ", "))
			}
			v, err := textValue(fields[name])
			if err != nil {
				return sub, malformed("items[%d].%s: %v", i, name, err)
			}
			it.Set(name, strings.TrimSpace(v))
		}
		sub.Items = append(sub.Items, it)
	}
	if len(sub.Items) == 0 {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeNoItems, ""))
	}
	if len(in.Attachments) > maxAttachments {
		return sub, invalid("%d attachments; at most %d", len(in.Attachments), maxAttachments)
	}
	for i, att := range in.Attachments {
		data, err := decodeBase64(att.ContentBase64)
		if err != nil {
			return sub, invalid("attachments[%d].content_base64: not standard base64 (%v)", i, err)
		}
		if isProof(att.Filename, att.ContentType, data) {
			sub.HasProof = true
		}
	}
	if !sub.HasProof {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeProofMissing, ""))
	}
	return sub, nil
}

// textValue reads an item field: a string, or a number, true/false (yes/no) or null as text.
func textValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't':
		return "yes", nil
	case 'f':
		return "no", nil
	case 'n':
		return "", nil
	case '{', '[':
		return "", fmt.Errorf("want a string, got a JSON %s", map[byte]string{'{': "object", '[': "array"}[raw[0]])
	}
	return string(raw), nil // a number, kept as written (an EAN as 5901234123457)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "") // line-wrapped base64 (MIME style) is common
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// isProof reports whether an attachment is a proof of purchase: a PDF or an image,
// judged by its content when recognisable, else by its declared type or file name.
func isProof(filename, contentType string, data []byte) bool {
	if len(data) == 0 {
		return false
	}
	if sniffed := http.DetectContentType(data); proofType(sniffed) {
		return true
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && proofType(mt) {
		return true
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".pdf", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".heic", ".heif", ".bmp":
		return true
	}
	return false
}

func proofType(mt string) bool {
	mt = strings.ToLower(mt)
	return mt == "application/pdf" || strings.HasPrefix(mt, "image/")
}

// SHA256Hex is the hex SHA-256 of a body: a submission's RawSHA256, and its idempotency key
// when the sender gives none.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sortedKeys lists a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
