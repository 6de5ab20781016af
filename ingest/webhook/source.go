package webhook

import (
	"fmt"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// Source is a configured webhook source, ready to verify deliveries and decode their bodies.
type Source struct {
	Name     string
	Kind     string // config.WebhookVendorStatus or config.WebhookSubmission
	Verifier *Verifier
	// Err says why the source cannot be used; its deliveries must be refused.
	Err    error
	status map[string]rma.Status // vendor status → rmad status
	fold   map[string]rma.Status // the same, case-folded, as a fallback
}

// NewSource prepares a configured source. A configuration error is kept in Err (config.Load
// refuses such a configuration anyway; this keeps a Config built in code from misbehaving).
func NewSource(sc config.WebhookSource, tolerance time.Duration, now func() time.Time) *Source {
	src := &Source{Name: sc.Name, Kind: sc.Kind, status: map[string]rma.Status{}, fold: map[string]rma.Status{}}
	src.Err = checkSource(sc)
	if src.Err != nil {
		return src
	}
	secrets := make([]string, len(sc.Secrets))
	for i, sec := range sc.Secrets {
		secrets[i] = sec.Reveal()
	}
	src.Verifier, src.Err = NewVerifier(secrets, tolerance, now)
	if src.Err != nil {
		src.Err = fmt.Errorf("webhook source %q: %w", sc.Name, src.Err)
		return src
	}
	statusMap := sc.StatusMap
	if len(statusMap) == 0 {
		// No map: the vendor speaks rmad's own status names.
		statusMap = map[string]string{}
		for _, st := range rma.AllStatuses {
			statusMap[string(st)] = string(st)
		}
	}
	for vendor, ours := range statusMap {
		st, _ := rma.ParseStatus(ours) // checked by checkSource
		src.status[vendor] = st
		src.fold[strings.ToLower(strings.TrimSpace(vendor))] = st
	}
	return src
}

// checkSource re-checks what the source's use relies on: its name becomes part of Redis keys
// and URLs.
func checkSource(sc config.WebhookSource) error {
	if sc.Name == "" || strings.ContainsAny(sc.Name, ":/?#%") || !VisibleASCII(sc.Name) {
		return fmt.Errorf("webhook source name %q: want letters, digits, '-', '_' or '.'", sc.Name)
	}
	if sc.Kind != config.WebhookVendorStatus && sc.Kind != config.WebhookSubmission {
		return fmt.Errorf("webhook source %q: kind %q: want %s or %s", sc.Name, sc.Kind, config.WebhookVendorStatus, config.WebhookSubmission)
	}
	for vendor, ours := range sc.StatusMap {
		if _, err := rma.ParseStatus(ours); err != nil {
			return fmt.Errorf("webhook source %q: status_map %s: %w", sc.Name, vendor, err)
		}
	}
	return nil
}

// vendorStatusBody is what a vendor_status source sends.
type vendorStatusBody struct {
	RMANumber       string `json:"rma_number"`
	VendorReference string `json:"vendor_reference"`
	Status          string `json:"status"`
	Note            string `json:"note"`
	Tracking        string `json:"tracking"`
}

var vendorStatusFields = []string{"rma_number", "vendor_reference", "status", "note", "tracking"}

// Limits on the free-text fields a vendor sends; they end up in the partner's digest.
const (
	maxVendorNote  = 2000
	maxVendorShort = 200
)

// Extra keys a vendor status leaves in the RMA's history.
const (
	ExtraWebhookID       = "webhook_id" // "<source>:<webhook-id>": the delivery that made the change
	ExtraVendorReference = "vendor_reference"
	ExtraTracking        = "tracking"
	ExtraVendorStatus    = "vendor_status"
)

// StatusUpdate is a checked vendor status delivery: the change to make to one RMA.
type StatusUpdate struct {
	Number       string     // canonical RMA number
	To           rma.Status // the vendor status mapped to ours
	VendorStatus string     // as the vendor sent it
	Actor        string     // "vendor:<source>"
	Note         string
	Extra        map[string]string // ExtraWebhookID always; ExtraVendorReference, ExtraTracking when sent
}

// DeliveryID is the history extra that identifies the delivery behind the update.
func (u StatusUpdate) DeliveryID() string { return u.Extra[ExtraWebhookID] }

// StatusUpdate decodes the body of delivery d to a vendor_status source. The error is an
// *InputError: Malformed for JSON that is not the vendor status object, Invalid for a missing
// or bad field, UnmappedStatus for a status the source's status_map lacks.
func (src *Source) StatusUpdate(d Delivery, body []byte) (StatusUpdate, error) {
	var in vendorStatusBody
	if err := decodeStrict(body, &in, vendorStatusFields); err != nil {
		return StatusUpdate{}, malformed("%s", err.Error())
	}
	in.RMANumber = strings.TrimSpace(in.RMANumber)
	in.Status = strings.TrimSpace(in.Status)
	switch {
	case in.RMANumber == "":
		return StatusUpdate{}, invalid("rma_number is required: the RMA number rmad gave the claim, e.g. RMA/17/SR/2026")
	case in.Status == "":
		return StatusUpdate{}, invalid("status is required: one of %s", strings.Join(sortedKeys(src.status), ", "))
	case len(in.Note) > maxVendorNote:
		return StatusUpdate{}, invalid("note is %d bytes; at most %d", len(in.Note), maxVendorNote)
	case len(in.VendorReference) > maxVendorShort || len(in.Tracking) > maxVendorShort:
		return StatusUpdate{}, invalid("vendor_reference and tracking are at most %d bytes each", maxVendorShort)
	}
	num, err := rma.ParseNumber(in.RMANumber)
	if err != nil {
		return StatusUpdate{}, invalid("rma_number %q is not an RMA number of the form RMA/<n>/SR/<yyyy>", Clip(in.RMANumber, 64))
	}
	to, ok := src.status[in.Status]
	if !ok {
		to, ok = src.fold[strings.ToLower(in.Status)]
	}
	if !ok {
		return StatusUpdate{}, &InputError{Kind: UnmappedStatus, Detail: fmt.Sprintf(
			"status %q is not mapped for source %q; known statuses: %s (ask the receiver's admin to add it to status_map)",
			Clip(in.Status, 64), src.Name, strings.Join(sortedKeys(src.status), ", "))}
	}
	extra := map[string]string{ExtraWebhookID: src.Name + ":" + d.ID, ExtraVendorStatus: in.Status}
	if v := strings.TrimSpace(in.VendorReference); v != "" {
		extra[ExtraVendorReference] = v
	}
	if v := strings.TrimSpace(in.Tracking); v != "" {
		extra[ExtraTracking] = v
	}
	return StatusUpdate{Number: num.String(), To: to, VendorStatus: in.Status, Actor: "vendor:" + src.Name,
		Note: strings.TrimSpace(in.Note), Extra: extra}, nil
}

// ShortestKey is the length of the source's shortest HMAC key, to warn about weak secrets.
func (src *Source) ShortestKey() int { return src.Verifier.shortestKey() }
