package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/rmad/rmad/ingest/webhook"
)

// ContentTypeProblem is the media type of every error answer (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// ContentTypeJSON is the media type of every success answer.
const ContentTypeJSON = "application/json"

// problemTypePrefix makes the stable, machine-readable "type" of a problem. Clients switch on
// the type (or the status), never on the human-readable title or detail.
const problemTypePrefix = "urn:rmad:problem:"

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Checks carries /healthz details when the service is unavailable.
	Checks map[string]any `json:"checks,omitempty"`
}

// Problem kinds: the slug of the type URN, the status and the title.
type problemKind struct {
	slug   string
	status int
	title  string
}

var (
	pkUnknownSource     = problemKind{"unknown-source", http.StatusNotFound, "Unknown webhook source"}
	pkMissingHeader     = problemKind{"missing-header", http.StatusBadRequest, "Missing webhook header"}
	pkBadHeader         = problemKind{"bad-header", http.StatusBadRequest, "Malformed webhook header"}
	pkTimestamp         = problemKind{"timestamp-out-of-tolerance", http.StatusUnauthorized, "Webhook timestamp outside the accepted window"}
	pkSignature         = problemKind{"invalid-signature", http.StatusUnauthorized, "Webhook signature invalid"}
	pkTooLarge          = problemKind{"body-too-large", http.StatusRequestEntityTooLarge, "Request body too large"}
	pkBadBody           = problemKind{"unreadable-body", http.StatusBadRequest, "Request body could not be read"}
	pkMediaType         = problemKind{"unsupported-media-type", http.StatusUnsupportedMediaType, "Unsupported media type"}
	pkMalformedJSON     = problemKind{"malformed-json", http.StatusBadRequest, "Malformed JSON body"}
	pkInvalidField      = problemKind{"invalid-field", http.StatusUnprocessableEntity, "Invalid field"}
	pkUnknownRMA        = problemKind{"unknown-rma", http.StatusNotFound, "Unknown RMA"}
	pkNotForwarded      = problemKind{"rma-not-forwarded", http.StatusConflict, "RMA is not handled by a vendor"}
	pkIllegalTransition = problemKind{"illegal-transition", http.StatusConflict, "Illegal status change"}
	pkUnmappedStatus    = problemKind{"unmapped-status", http.StatusUnprocessableEntity, "Unknown vendor status"}
	pkUnknownPartner    = problemKind{"unknown-partner", http.StatusUnprocessableEntity, "Unknown partner"}
	pkPartnerMismatch   = problemKind{"partner-mismatch", http.StatusForbidden, "Partner does not match the token"}
	pkInProgress        = problemKind{"delivery-in-progress", http.StatusConflict, "Delivery in progress"}
	pkUnauthorized      = problemKind{"unauthorized", http.StatusUnauthorized, "Missing or invalid bearer token"}
	pkMissingQuery      = problemKind{"missing-query", http.StatusBadRequest, "Missing query"}
	pkNotFound          = problemKind{"not-found", http.StatusNotFound, "Not found"}
	pkMethod            = problemKind{"method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed"}
	pkMisconfigured     = problemKind{"source-misconfigured", http.StatusInternalServerError, "Webhook source misconfigured"}
	pkInternal          = problemKind{"internal", http.StatusInternalServerError, "Internal error"}
	pkUnavailable       = problemKind{"unavailable", http.StatusServiceUnavailable, "Service unavailable"}
)

// answer is a complete response, built before it is written so that webhook answers can be
// remembered and replayed byte for byte.
type answer struct {
	status     int
	ctype      string
	body       []byte
	retryAfter int // seconds; 0 for none
}

func (k problemKind) with(detail string) answer {
	return problemAnswer(Problem{Type: problemTypePrefix + k.slug, Title: k.title, Status: k.status, Detail: detail})
}

func problemAnswer(p Problem) answer {
	b, err := json.Marshal(p)
	if err != nil { // only Checks can hold unmarshalable values
		p.Checks = nil
		b, _ = json.Marshal(p)
	}
	return answer{status: p.Status, ctype: ContentTypeProblem, body: append(b, '\n')}
}

// jsonAnswer marshals v as a success answer.
func jsonAnswer(status int, v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		return pkInternal.with("the answer could not be encoded")
	}
	return answer{status: status, ctype: ContentTypeJSON, body: append(b, '\n')}
}

// replayed rebuilds an answer from its remembered status and body.
func replayed(a webhook.Answer) answer {
	ct := ContentTypeJSON
	if a.Status >= 400 {
		ct = ContentTypeProblem
	}
	return answer{status: a.Status, ctype: ct, body: a.Body}
}

func (a answer) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(a.retryAfter))
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body) // the client went away; nothing to do
}
