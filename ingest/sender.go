package ingest

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// Why values: the reason a mail is ignored or its sender unknown (rma.Submission.Why).
const (
	WhyAutoSubmitted   = "auto_submitted"   // Auto-Submitted other than "no", or X-Autoreply/X-Autorespond
	WhyPrecedence      = "precedence"       // Precedence: bulk, junk, list (or auto_reply)
	WhyListID          = "list_id"          // mailing-list mail
	WhyEmptySender     = "empty_sender"     // no From address, or the null Return-Path <>
	WhyMailerDaemon    = "mailer_daemon"    // MAILER-DAEMON or postmaster
	WhyMultipartReport = "multipart_report" // delivery or read report
	WhyOwnAddress      = "own_address"      // our own outgoing mail come back (loop protection)
	WhyDMARCFail       = "dmarc_fail"       // require_dmarc_pass is on and the trusted header lacks dmarc=pass
	WhyNotRegistered   = "not_registered"   // no partner has this address or domain
)

// automaticReason says why a mail is automatic (SPEC §1.4, RFC 3834) and must never be
// answered, or "" for a mail a person sent.
func automaticReason(h mail.Header, from string, own []string) string {
	if v := h.Get("Auto-Submitted"); v != "" && headerToken(v) != "no" {
		return WhyAutoSubmitted
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		return WhyAutoSubmitted
	}
	switch headerToken(h.Get("Precedence")) {
	case "bulk", "junk", "list", "auto_reply":
		return WhyPrecedence
	}
	if h.Has("List-Id") {
		return WhyListID
	}
	if t, _, _ := h.ContentType(); t == "multipart/report" {
		return WhyMultipartReport
	}
	if from == "" || strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return WhyEmptySender
	}
	switch local, _, _ := strings.Cut(from, "@"); local {
	case "mailer-daemon", "postmaster":
		return WhyMailerDaemon
	}
	for _, a := range own {
		if a != "" && addressOf(a) == from {
			return WhyOwnAddress
		}
	}
	return ""
}

// headerToken is the first word of a structured header value, lower-cased, without comments.
func headerToken(v string) string {
	v = strings.TrimSpace(strings.ToLower(v))
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	return v
}

// addressOf returns the lower-case address of "Name <addr>" or a bare address.
func addressOf(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return strings.ToLower(a.Address)
	}
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// fromAddress reads the From header: the first address, lower-cased, and its decoded display
// name. A From that RFC 5322 parsing rejects still yields whatever looks like an address.
func fromAddress(h mail.Header) (addr, name string) {
	if list, err := h.AddressList("From"); err == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address), list[0].Name
	}
	raw := h.Get("From")
	if raw == "" {
		return "", ""
	}
	addr = addressOf(raw)
	if !strings.Contains(addr, "@") || strings.ContainsAny(addr, " \t,;\"") {
		return "", ""
	}
	return addr, ""
}
