// Package webhook is rmad's HTTP side: signed Standard Webhooks from vendors (status updates)
// and portals (submissions), the partner API, /healthz and /metrics.
//
// Every error answer is application/problem+json (RFC 9457) with a title and a detail that the
// developer on the other side can act on.
package webhook
