package ingest

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// dmarcPass reports whether the trusted Authentication-Results header (RFC 8601) shows
// dmarc=pass. Only a header whose authserv-id is ours is trusted, and only the topmost one:
// our MTA adds it last, while anything below may have come with the message.
func dmarcPass(h mail.Header, authservID string) bool {
	if authservID == "" {
		return false
	}
	for _, v := range h.Values("Authentication-Results") {
		id, results := splitAuthResults(v)
		if !strings.EqualFold(id, authservID) {
			continue
		}
		return resultOf(results, "dmarc") == "pass"
	}
	return false
}

// splitAuthResults returns the authserv-id and the "method=result ..." statements.
func splitAuthResults(v string) (string, []string) {
	parts := strings.Split(stripComments(v), ";")
	id := ""
	if f := strings.Fields(parts[0]); len(f) > 0 {
		id = f[0] // an optional version number may follow
	}
	return id, parts[1:]
}

// resultOf finds the result of a method ("dmarc") among the statements.
func resultOf(statements []string, method string) string {
	for _, s := range statements {
		f := strings.Fields(eqSpaces.Replace(s))
		if len(f) == 0 {
			continue
		}
		m, result, ok := strings.Cut(f[0], "=")
		if ok && strings.EqualFold(strings.TrimSpace(m), method) {
			return strings.ToLower(result)
		}
	}
	return ""
}

// eqSpaces joins "dmarc = pass" (CFWS is allowed around "=").
var eqSpaces = strings.NewReplacer(" = ", "=", " =", "=", "= ", "=", "\t=", "=", "=\t", "=")

// stripComments removes (possibly nested) RFC 5322 comments.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth := 0
	for _, r := range v {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
