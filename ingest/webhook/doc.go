// Package webhook is the intake side of rmad's webhooks: it turns signed HTTP deliveries into
// submissions and status updates, and remembers answers so that a delivery is applied once.
// It serves nothing itself; package web routes requests here and answers them.
//
//   - Verification (Verifier): Standard Webhooks headers webhook-id, webhook-timestamp and
//     webhook-signature; HMAC-SHA256 of "id.timestamp.body" under any of a source's whsec_
//     secrets; the timestamp within DefaultTolerance (±5 min) of our clock.
//   - Sources (Source): a configured source of kind vendor_status decodes
//     {"rma_number","vendor_reference","status","note","tracking"} into a StatusUpdate, its
//     status mapped through the source's status_map; kind submission (and the partner API)
//     decodes {"partner","items":[{item fields}],"attachments":[{"filename","content_type",
//     "content_base64"}],"notify":bool} with DecodeSubmission into an rma.Submission.
//     Bodies are exactly one JSON object of the known fields; what is wrong comes back as an
//     *InputError whose detail names the field and what to send.
//   - Replay memory (Guard): the webhook-id is the idempotency key. An answer after the
//     delivery was checked and applied is remembered for ReplayTTL and replayed byte for
//     byte; a concurrent duplicate gets ErrInProgress; an attempt that failed (no answer
//     remembered) is taken over by the sender's retry once its lock is StaleAfter old.
//     Applying is itself idempotent by delivery (the store replays a submission; a vendor
//     status already in the RMA's history is not applied again), so a crash between applying
//     and remembering changes nothing twice.
package webhook
