// Package retry is the schedule of failed deliveries and its Kafka record
// format: the ladder of retry topics that says when a delivery is tried
// again, the delivery job that carries it from rung to rung and on to the
// DLQ, and the bundle that carries several jobs of one subscription as one
// record.
package retry

import "time"

// Rung is one step of the retry ladder: a topic whose records are due a
// fixed delay after they were written.
type Rung struct {
	Topic string
	Delay time.Duration
}

// Ladder says where a failed delivery goes next.
type Ladder struct {
	Rungs []Rung
	DLQ   string
	// MaxRetryAfter caps how far an endpoint's Retry-After pushes the next
	// attempt.
	MaxRetryAfter time.Duration
}

// Step is where a failed delivery goes next.
type Step struct {
	Topic     string
	NotBefore time.Time // zero for the DLQ
	Rung      int       // index into Rungs, -1 for the DLQ
	// RetryAfter is the endpoint's Retry-After, capped, when it pushed
	// the step past the rung's delay; 0 otherwise.
	RetryAfter time.Duration
}

// Next returns the next step of a delivery that has failed retryably
// after attempts attempts, out of maxAttempts. The k-th retry waits on
// rung k; when there are more attempts than rungs the last rung repeats.
// A Retry-After longer than the rung's delay moves the job to the first
// later rung that waits long enough, or holds it on the last rung.
func (l *Ladder) Next(attempts, maxAttempts int, retryAfter time.Duration, now time.Time) Step {
	if attempts >= maxAttempts || len(l.Rungs) == 0 {
		return Step{Topic: l.DLQ, Rung: -1}
	}
	i := min(max(attempts-1, 0), len(l.Rungs)-1)
	if l.MaxRetryAfter > 0 {
		retryAfter = min(retryAfter, l.MaxRetryAfter)
	}
	for retryAfter > l.Rungs[i].Delay && i < len(l.Rungs)-1 {
		i++
	}
	step := Step{Topic: l.Rungs[i].Topic, NotBefore: now.Add(max(l.Rungs[i].Delay, retryAfter)), Rung: i}
	if retryAfter > l.Rungs[i].Delay {
		step.RetryAfter = retryAfter
	}
	return step
}

// PutOff is where a delivery put off without an attempt goes: the first
// rung, whatever its attempts.
func (l *Ladder) PutOff(now time.Time) Step {
	return Step{Topic: l.Rungs[0].Topic, NotBefore: now.Add(l.Rungs[0].Delay), Rung: 0}
}

// Hold is where a job read from a rung before it is due goes: round the
// last rung again without an attempt, still due at notBefore. A rung
// consumer waits for no record longer than its rung's delay, so a job
// that an endpoint's Retry-After holds longer than that must not sit at
// the head of a partition, where every job behind it would wait too.
func (l *Ladder) Hold(notBefore time.Time) Step {
	last := len(l.Rungs) - 1
	return Step{Topic: l.Rungs[last].Topic, NotBefore: notBefore, Rung: last}
}

// Due is when a job read back from a rung is due. The rung's consumer
// already waited for it as long as its rung allows; only a job the
// endpoint held longer (RetryAfter) waits on, until its not-before, but
// no later than the longest an endpoint may push an attempt from now. A
// not-before far ahead on a job without it says only that the clock of
// the worker that wrote it was ahead.
func (l *Ladder) Due(job *Job, now time.Time) time.Time {
	if job.RetryAfter <= 0 {
		return now
	}
	if limit := now.Add(l.MaxRetryAfter); l.MaxRetryAfter > 0 && job.NotBefore.After(limit) {
		return limit
	}
	return job.NotBefore
}
