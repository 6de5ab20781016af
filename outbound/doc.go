// Package outbound composes every mail rmad sends and delivers it over SMTP.
//
// Composing is pure: a Composer turns decisions, records and partner data into a Message (the
// envelope plus RFC 5322 bytes made with go-message) whose Message-ID is derived from the
// submission's source, so a resend after a crash is recognisable as the same mail. The words a
// partner reads come from the i18n package's per-locale catalogs (en, el, ro, fr); the mails
// for staff and manufacturers come from embedded English templates (templates/).
//
// Delivery is the Sender's job with go-smtp: implicit TLS, STARTTLS, or plain text to a loopback
// relay only. It keeps its sessions open across messages (RSET before each reuse, a fresh
// session after any failure, closed after 30 s idle or at the server's messages-per-session
// limit). Commands go one round trip at a time even where the server offers PIPELINING: go-smtp's
// client has no pipelining (v0.25.1, the newest version served, nor v0.26.0), and pipelining
// MAIL/RCPT/DATA ourselves would mean writing past the client on a connection whose TLS state and
// buffered reader it owns, which is not simple enough to be safe. IsPermanent tells the outbox which failures to dead-letter
// (a 5xx for this message) and which to retry (everything else, an outage included).
package outbound
