// Package ingest turns outside input into an rma.Submission: a MIME mail (any charset, HTML or
// plain text), the body form of docs/contract.md §1.1, CSV attachments of docs/contract.md §1.2, commands of docs/contract.md §1.3
// and the sender checks of docs/contract.md §1.4. It decides nothing about items: fields are kept as sent
// and package rules checks them.
//
// Everything here reads untrusted bytes: no input may panic, and sizes are capped while
// reading (limits.max_message_bytes, limits.max_items_per_submission).
package ingest
