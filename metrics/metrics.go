// Package metrics defines hookstream's Prometheus metrics. Every metric
// is registered on the Registerer given to New; there is no global state.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the collectors hookstream updates.
type Metrics struct {
	EventsConsumed  *prometheus.CounterVec // topic
	EventsRead      *prometheus.CounterVec // format
	EventsMatched   prometheus.Counter
	Matches         prometheus.Counter
	Poison          *prometheus.CounterVec // reason
	Deliveries      *prometheus.CounterVec // outcome, reason
	AttemptDuration *prometheus.HistogramVec
	Retries         *prometheus.CounterVec // rung
	RetriesHeld     prometheus.Counter
	RetryLateness   *prometheus.HistogramVec // rung
	Disabled        *prometheus.CounterVec   // reason
	Bundles         *prometheus.CounterVec   // rung
	DLQWrites       *prometheus.CounterVec   // reason
	JobsDropped     *prometheus.CounterVec   // reason
	ProduceErrors   *prometheus.CounterVec   // topic
	InFlight        prometheus.Gauge
	Uncommitted     *prometheus.GaugeVec   // group
	Commits         *prometheus.CounterVec // group, result
	HandlerRetries  *prometheus.CounterVec // group
	Paused          *prometheus.GaugeVec   // group
	Rebalances      *prometheus.CounterVec // group, kind
	Subscriptions   prometheus.Gauge
	Reloads         *prometheus.CounterVec // result
	Inbound         *prometheus.CounterVec // source, outcome
	InboundDuration *prometheus.HistogramVec
	ConsumerLag     *prometheus.GaugeVec // group, topic, partition

	// The children of the vectors above that every event or attempt
	// counts in, looked up without the vectors' locks.
	consumed  *children[string, prometheus.Counter]
	read      *children[string, prometheus.Counter]
	attempts  *children[[2]string, prometheus.Counter]
	durations *children[string, prometheus.Observer]
}

// Consumed is EventsConsumed's child for topic.
func (m *Metrics) Consumed(topic string) prometheus.Counter { return m.consumed.get(topic) }

// Read is EventsRead's child for format.
func (m *Metrics) Read(format string) prometheus.Counter { return m.read.get(format) }

// Attempt is Deliveries' child for an attempt's outcome and reason.
func (m *Metrics) Attempt(outcome, reason string) prometheus.Counter {
	return m.attempts.get([2]string{outcome, reason})
}

// AttemptTook is AttemptDuration's child for an attempt's outcome.
func (m *Metrics) AttemptTook(outcome string) prometheus.Observer { return m.durations.get(outcome) }

// New registers hookstream's metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "hookstream"
	m := &Metrics{
		EventsConsumed: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_consumed_total",
			Help: "Records read from the input topics."}, []string{"topic"}),
		EventsRead: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_read_total",
			Help: "Log events read from input records, by the format they were written in (an OTLP record holds many)."}, []string{"format"}),
		EventsMatched: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_matched_total",
			Help: "Log events that matched at least one subscription."}),
		Matches: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "matches_total",
			Help: "Event and subscription pairs matched; each starts one delivery."}),
		Poison: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "poison_records_total",
			Help: "Input records that are not usable log events, sent to the DLQ."}, []string{"reason"}),
		Deliveries: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "delivery_attempts_total",
			Help: "Delivery attempts by outcome (delivered, retryable, permanent) and reason."}, []string{"outcome", "reason"}),
		AttemptDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_attempt_duration_seconds",
			Help:    "Duration of delivery attempts that reached the network.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"outcome"}),
		Retries: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retries_scheduled_total",
			Help: "Delivery jobs written to a retry rung."}, []string{"rung"}),
		Disabled: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "subscriptions_disabled_total",
			Help: "Subscriptions hookstream disabled: gone (the endpoint answered 410) or failing (every attempt failed for delivery.disable_after)."}, []string{"reason"}),
		RetryLateness: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "retry_lateness_seconds",
			Help:    "How long after it was due a retry was attempted: the time the ladder is behind, per rung.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300}}, []string{"rung"}),
		RetriesHeld: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "retries_held_total",
			Help: "Delivery jobs read before their endpoint's Retry-After was over and written round the last rung again, without an attempt."}),
		Bundles: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retry_bundles_total",
			Help: "Rung records carrying more than one delivery job of a subscription; their jobs count in retries_scheduled_total."}, []string{"rung"}),
		DLQWrites: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dlq_writes_total",
			Help: "Records written to the dead-letter topic, by reason."}, []string{"reason"}),
		JobsDropped: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "jobs_dropped_total",
			Help: "Retry jobs dropped because their subscription was deleted or disabled, or the job did not decode."}, []string{"reason"}),
		ProduceErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "produce_errors_total",
			Help: "Failed writes to retry or DLQ topics (each is retried)."}, []string{"topic"}),
		InFlight: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "in_flight_records",
			Help: "Records being processed."}),
		Uncommitted: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "uncommitted_records",
			Help: "Records dispatched whose offsets are not yet committable, by consumer group."}, []string{"group"}),
		Commits: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "offset_commits_total",
			Help: "Offset commits by consumer group and result."}, []string{"group", "result"}),
		HandlerRetries: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handler_retries_total",
			Help: "Records handled again after their handling failed (no durable outcome: a write refused, a topic missing)."}, []string{"group"}),
		Paused: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "paused_partitions",
			Help: "Partitions paused until their head record is due, by consumer group."}, []string{"group"}),
		Rebalances: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "partition_changes_total",
			Help: "Partitions assigned, revoked or lost, by consumer group."}, []string{"group", "kind"}),
		Subscriptions: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "subscriptions",
			Help: "Subscriptions in the in-memory cache."}),
		Reloads: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "subscription_reloads_total",
			Help: "Reloads of the subscription cache by result."}, []string{"result"}),
		Inbound: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "inbound_requests_total",
			Help: "Requests to the gateway by source (empty for an unknown one) and outcome: published, duplicate, answered, dedup_skipped or the reason of a refusal."},
			[]string{"source", "outcome"}),
		InboundDuration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "inbound_request_duration_seconds",
			Help:    "Time from a gateway request's arrival to its answer, publishing to Kafka included, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"outcome"}),
		ConsumerLag: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_lag",
			Help: "Records not yet committed by the input group and each rung's group, per partition, read from the committed and end offsets every 15 s. Every worker reports the same figure: aggregate with max."},
			[]string{"group", "topic", "partition"}),
	}
	m.consumed = newChildren(func(topic string) prometheus.Counter { return m.EventsConsumed.WithLabelValues(topic) })
	m.read = newChildren(func(format string) prometheus.Counter { return m.EventsRead.WithLabelValues(format) })
	m.attempts = newChildren(func(k [2]string) prometheus.Counter { return m.Deliveries.WithLabelValues(k[0], k[1]) })
	m.durations = newChildren(func(outcome string) prometheus.Observer { return m.AttemptDuration.WithLabelValues(outcome) })
	return m
}
