package delivery

import (
	"time"

	"github.com/hookstream/hookstream/payload"
)

// Request is one attempt's request: the rendered payload and the headers
// that identify and sign it.
type Request struct {
	payload.Request
	// WebhookID is the delivery's id, sent as webhook-id.
	WebhookID string
	// Timestamp is when it was signed, sent as webhook-timestamp.
	Timestamp time.Time
	// Signature is the webhook-signature header; empty when the
	// subscription's deliveries are not signed.
	Signature string
	// Traceparent and Tracestate are the W3C trace context headers, when
	// the delivery has one.
	Traceparent, Tracestate string
}
