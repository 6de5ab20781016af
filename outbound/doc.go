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
// client has no pipelining (v0.25.1, used here, nor v0.26.0, the newest on the module proxy on
// 2026-12-01: Mail and Rcpt each write a command and wait for its reply), and it keeps its
// connection and its buffered textproto reader unexported (after STARTTLS the TLS connection it
// made itself), so a pipelined MAIL/RCPT/DATA group could only be written past it on bytes it
// owns, or by an SMTP client of our own (STARTTLS, AUTH with XOAUTH2, SIZE/SMTPUTF8 parameters,
// dot-stuffing, RFC 2920 §3.1's lone dot after a DATA accepted for rejected recipients) in place
// of a maintained library. Neither is small or safe enough for what it saves (three round trips
// a message; nothing on loopback). IsPermanent tells the outbox which failures to dead-letter
// (a 5xx for this message) and which to retry (everything else, an outage included).
package outbound
