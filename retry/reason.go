package retry

import "strings"

// DLQReason says why a record is in the DLQ: the value of its
// hookstream-reason header.
type DLQReason string

// DLQExhausted is the reason of a delivery whose every attempt failed
// retryably.
const DLQExhausted DLQReason = "exhausted"

// DLQGone is the reason of a delivery whose endpoint answered 410 Gone.
const DLQGone DLQReason = "gone"

// Disabled is the reason of a delivery whose subscription hookstream
// disabled for reason ("gone", "failing") before it was made: it waits in
// the DLQ to be replayed once the subscription is enabled again.
func Disabled(reason string) DLQReason { return DLQReason(reason) }

// Permanent is the reason of a delivery whose attempt failed in a way that
// retrying cannot help; reason is the attempt's.
func Permanent(reason string) DLQReason { return DLQReason("permanent:" + reason) }

// Poison is the reason of a record that is not a usable event or job.
func Poison(reason string) DLQReason { return DLQReason("poison:" + reason) }

// Label is the reason as a bounded metric label: "exhausted", "gone",
// "failing" and "permanent:<reason>" stay (an attempt's reasons are few),
// anything else is its kind alone.
func (r DLQReason) Label() string {
	if r == DLQExhausted || strings.HasPrefix(string(r), "permanent:") {
		return string(r)
	}
	kind, _, _ := strings.Cut(string(r), ":")
	return kind
}
