package ingest

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// Why values: the reason a mail is ignored or its sender unknown (rma.Submission.Why).
const (
	WhyAutoSubmitted   = "auto_submitted"     // Auto-Submitted other than "no", or X-Autoreply/X-Autorespond
	WhyPrecedence      = "precedence"         // Precedence: bulk, junk, list (or auto_reply)
	WhyListID          = "list_id"            // mailing-list mail
	WhyEmptySender     = "empty_sender"       // no From address, or the null Return-Path <>
	WhyMailerDaemon    = "mailer_daemon"      // MAILER-DAEMON or postmaster
	WhyAutoReply       = "auto_reply"         // a vacation responder's header (X-Apple-Action, X-Auto-Response-Suppress)
	WhyAutoSubject     = "auto_reply_subject" // a subject such as "Automatic reply:" or "Out of office"
	WhyBounce          = "bounce"             // X-Failed-Recipients, an SNS notification, a delivery-failure subject
	WhyNoReplySender   = "noreply_sender"     // no-reply@, noreply@, do-not-reply@ (nobody reads the answer)
	WhyMultipartReport = "multipart_report"   // delivery or read report
	WhyOwnAddress      = "own_address"        // our own outgoing mail come back (loop protection)
	WhyDMARCFail       = "dmarc_fail"         // require_dmarc_pass is on and the trusted header lacks dmarc=pass
	WhyNotRegistered   = "not_registered"     // no partner has this address or domain
)

// automaticReason says why a mail is automatic (docs/contract.md §1.4, RFC 3834) and must never be
// answered, or "" for a mail a person sent.
func automaticReason(h mail.Header, from, subject string, own []string) string {
	if v := h.Get("Auto-Submitted"); v != "" && headerToken(v) != "no" {
		return WhyAutoSubmitted
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		return WhyAutoSubmitted
	}
	// Set by the sender's autoresponder: Apple Mail's vacation rule, Exchange's OOF replies
	// (which ask that nobody answer them automatically).
	if strings.Contains(strings.ToLower(h.Get("X-Apple-Action")), "vacation") || h.Has("X-Auto-Response-Suppress") {
		return WhyAutoReply
	}
	if h.Has("X-Failed-Recipients") || h.Has("X-Amz-Sns-Message-Id") || h.Has("X-Amz-Sns-Message-Type") {
		return WhyBounce
	}
	switch headerToken(h.Get("Precedence")) {
	case "bulk", "junk", "list", "auto_reply":
		return WhyPrecedence
	}
	if h.Has("List-Id") {
		return WhyListID
	}
	if t, _ := lenientParams(&h.Header, "Content-Type"); t == "multipart/report" || t == "message/feedback-report" ||
		t == "message/delivery-status" || t == "message/disposition-notification" {
		return WhyMultipartReport
	}
	if from == "" || strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return WhyEmptySender
	}
	local, _, _ := strings.Cut(from, "@")
	switch squeezeLocal(local) {
	case "mailerdaemon", "postmaster":
		return WhyMailerDaemon
	case "noreply", "donotreply", "dontreply", "noanswer", "noresponse":
		return WhyNoReplySender
	}
	if why := subjectReason(subject); why != "" {
		return why
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

// squeezeLocal drops the separators of an address's local part ("no-reply", "no_reply",
// "no.reply" are "noreply") and a "+tag".
func squeezeLocal(local string) string {
	local, _, _ = strings.Cut(local, "+")
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, local)
}

// Subject beginnings of automatic replies and bounces, folded (see fold), in the languages
// partners write and the ones mail servers answer in.
var (
	autoReplySubjects = []string{
		"auto reply", "autoreply", "automatic reply", "auto response", "autoresponse", "automatic response",
		"out of office", "out of the office", "ooo ", "away from office", "vacation reply", "on vacation",
		"αυτοματη απαντηση", "εκτος γραφειου", "αυτοματη αποκριση",
		"raspuns automat", "raspunsul automat", "absent de la birou", "in afara biroului",
		"reponse automatique", "absence du bureau", "absent du bureau", "message dabsence", "reponse dabsence",
		"autosvar", "abwesenheitsnotiz", "automatische antwort",
	}
	bounceSubjects = []string{
		"undeliverable", "undelivered mail", "delivery status notification", "mail delivery failed",
		"mail delivery failure", "delivery has failed", "returned mail", "failure notice",
		"mail system error", "non remis", "non distribuable", "nedistribuit", "μη παραδοση",
		"aws notification message", "amazon ses bounce",
	}
)

// subjectReason recognises an automatic reply or a bounce by its subject's beginning.
func subjectReason(subject string) string {
	if subject == "" {
		return ""
	}
	f := fold(subject) + " "
	for _, s := range autoReplySubjects {
		if strings.HasPrefix(f, s) {
			return WhyAutoSubject
		}
	}
	for _, s := range bounceSubjects {
		if strings.HasPrefix(f, s) {
			return WhyBounce
		}
	}
	return ""
}
