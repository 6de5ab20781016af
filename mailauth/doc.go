// Package mailauth logs rmad in to IMAP and SMTP servers with OAuth 2.0: access tokens from
// golang.org/x/oauth2 (the client-credentials grant, or the refresh-token grant when a refresh
// token is configured), cached and renewed before they expire, and the SASL clients that carry
// them — XOAUTH2 (ours: go-sasl has none, and Microsoft 365 offers only it) and OAUTHBEARER
// (RFC 7628, from go-sasl). Tokens are secrets: nothing here logs or prints one.
package mailauth
