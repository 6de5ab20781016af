// Package web is rmad's HTTP server: routing, signed Standard Webhooks from vendors (status
// updates) and portals (submissions), the partner API, /healthz and /metrics; the staff
// console comes under /console. Verifying and decoding deliveries is package ingest/webhook's.
//
// # Routes
//
//   - POST /webhooks/{source}: a delivery of a configured source, verified before its body is
//     parsed (headers webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256 of
//     "id.timestamp.body" under any of the source's whsec_ secrets; ±5 min). Kind
//     vendor_status takes {"rma_number","vendor_reference","status","note","tracking"} and
//     answers {"rma_number","status","previous_status","updated_at"}; kind submission takes
//     {"partner","items":[{docs/contract.md §1 fields}],"attachments":[{"filename","content_type",
//     "content_base64"}],"notify":bool} and answers {"results":[rows of rma-results.csv],
//     "problems":[{"code","message"}]}.
//   - POST /api/v1/submissions: the submission body without (or with the matching) "partner",
//     from the partner of the bearer token. An Idempotency-Key header, else the body's
//     SHA-256, makes a resent request the same submission (the store answers it as before).
//   - GET /api/v1/rmas?q=QUERY: the token's partner's RMAs matching an RMA number, serial or
//     own number, with status, its name in the answer's language, and history.
//   - GET /healthz (200, or 503 with the failing checks) and GET /metrics (Prometheus).
//
// # Answers
//
// Every error is application/problem+json (RFC 9457) with a stable type
// "urn:rmad:problem:<kind>", a title and a detail the developer on the other side can act on.
// Webhooks: 400 missing or malformed headers, malformed JSON, unknown fields or trailing data;
// 401 bad signature or timestamp outside the window; 404 unknown source or RMA; 409 illegal
// status change, an RMA not handled "forward" (only forwarded RMAs are the vendor's to update;
// 409 rather than 403 because it is the RMA's state, not the sender's rights, that refuses),
// or a duplicate being processed right now (with Retry-After); 413 body too large (64 KiB for
// vendor status, Config.MaxBodyBytes for submissions); 415 not JSON; 422 invalid field,
// unmapped vendor status, unknown partner; 503 (with Retry-After) when Redis is unreachable or
// too many large bodies arrive at once.
//
// Messages in submission answers and status names in look-ups are in the language that
// Accept-Language asks for (en, el, ro, fr), else the partner's locale — the same words as
// the reply email's rma-results.csv.
//
// # Exactly once
//
// The webhook-id is the idempotency key. A submission's answer after the delivery was checked
// and applied is remembered for ReplayTTL and replayed byte for byte; a concurrent duplicate
// gets 409 "in progress"; a 5xx is not remembered, and the sender's retry takes the delivery
// over once the failed attempt's lock is stale (see guard). A vendor status is checked and
// applied in one atomic store call (store.ChangeStatus) that finds the delivery in the RMA's
// history when it was applied before and answers from that entry, byte for byte, without a
// lock or a remembered success; its refusals (unknown RMA, not forwarded, illegal move) are
// remembered, so a replay keeps their words after the RMA changed. Refusals that need no state
// (bad JSON, an unmapped status, an unknown partner) are not remembered: they answer the same
// for the same body, and a retry succeeds once the admin has fixed the configuration. Applying
// a submission is itself idempotent by delivery (the store replays it), so a crash between
// applying and remembering changes nothing twice.
package web
