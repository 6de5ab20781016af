// Package outbound composes every mail rmad sends and delivers it over SMTP.
//
// Composing is pure: a Composer turns decisions, records and partner data into a Message (the
// envelope plus RFC 5322 bytes made with go-message) whose Message-ID is derived from the
// submission's source, so a resend after a crash is recognisable as the same mail. The words a
// partner reads come from the i18n package's per-locale catalogs (en, el, ro, fr); the mails
// for staff and manufacturers come from embedded English templates (templates/).
//
// Delivery is the Sender's job, over outbound/smtpclient: implicit TLS, STARTTLS, or plain text
// to a loopback relay only. It keeps its sessions open across messages (RSET before each
// reuse, a fresh session after any failure, closed after 30 s idle or at the server's
// messages-per-session limit). Where the server's EHLO offers PIPELINING (RFC 2920) a message's
// RSET, MAIL FROM, RCPT TOs and DATA go in one write, so a message on a kept session costs two
// round trips (that group, then the data) instead of five; without PIPELINING each command
// waits for its reply. The client is ours, small and bounded (reply lines, multi-line replies
// and every exchange have limits; the reply reader is fuzzed), because no maintained Go client
// pipelines: go-smtp's (v0.25.1, and v0.26.0, the newest on the module proxy on 2026-12-01)
// writes one command per round trip and keeps its connection and reader unexported, net/smtp is
// frozen, mox's client is not on the module proxy. go-smtp's server stays for the tests.
// IsPermanent tells the outbox which failures to dead-letter
// (a 5xx for this message) and which to retry (everything else, an outage included).
package outbound
