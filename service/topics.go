package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/config"
	kafkatopics "github.com/hookstream/hookstream/internal/topics"
)

// ensureTopics creates the retry and dead-letter topics that are missing,
// with the partition count of the input topic unless configured.
func ensureTopics(ctx context.Context, cl *kgo.Client, cfg *config.Config, maxMessageBytes int) error {
	adm := kadm.NewClient(cl)
	partitions := cfg.Kafka.Partitions
	if partitions == 0 {
		n, err := inputPartitions(ctx, adm, cfg)
		if err != nil {
			return err
		}
		partitions = n
	}
	topics := append(cfg.RetryTopics(), cfg.DLQTopic())
	existing, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		if d, ok := existing[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !cfg.Kafka.CreateTopics {
		return fmt.Errorf("kafka.create_topics is false and these topics are missing: %v", missing)
	}
	maxBytes := strconv.Itoa(maxMessageBytes)
	resp, err := adm.CreateTopics(ctx, partitions, cfg.Kafka.ReplicationFactor,
		map[string]*string{"max.message.bytes": &maxBytes}, missing...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", missing, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	// Until the broker has leaders for them, the first retries after a
	// fresh start would stall (a second on a single-node Kafka).
	return kafkatopics.WaitForLeaders(ctx, cl, missing)
}

// inputPartitions returns the partition count of the first input topic,
// or with an input regex the largest count among matching topics.
func inputPartitions(ctx context.Context, adm *kadm.Client, cfg *config.Config) (int32, error) {
	if cfg.Kafka.InputRegex == "" {
		first := cfg.Kafka.InputTopics[0]
		details, err := adm.ListTopics(ctx, first)
		if err != nil {
			return 0, fmt.Errorf("describe input topic %s: %w", first, err)
		}
		d, ok := details[first]
		if !ok || d.Err != nil {
			return 0, fmt.Errorf("kafka.input_topics: topic %q does not exist; create it, or set kafka.partitions for the retry and DLQ topics", first)
		}
		return int32(len(d.Partitions)), nil
	}
	re := regexp.MustCompile(cfg.Kafka.InputRegex)
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	var n int32
	for name, d := range details {
		if re.MatchString(name) && d.Err == nil {
			n = max(n, int32(len(d.Partitions)))
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("kafka.input_regex: no topic matches %q yet; set kafka.partitions for the retry and DLQ topics", cfg.Kafka.InputRegex)
	}
	return n, nil
}

// queues reads the rung backlogs (each rung group's lag) and the DLQ size
// from Kafka.
func queues(ctx context.Context, adm *kadm.Client, cfg *config.Config, inFlight int) (admin.Queues, error) {
	q := admin.Queues{InFlight: inFlight, Rungs: []admin.RungBacklog{}, DLQ: admin.DLQSize{Topic: cfg.DLQTopic()}}
	groups := make([]string, len(cfg.Retry.Rungs))
	for i, d := range cfg.Retry.Rungs {
		groups[i] = cfg.RungGroup(d)
	}
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return q, fmt.Errorf("rung backlogs: %w", err)
	}
	topics := cfg.RetryTopics()
	for i, d := range cfg.Retry.Rungs {
		b := admin.RungBacklog{Rung: config.RungName(d), Topic: topics[i]}
		if l, ok := lags[groups[i]]; ok {
			if err := l.Error(); err != nil {
				return q, fmt.Errorf("backlog of rung %s: %w", b.Rung, err)
			}
			b.Backlog = l.Lag.Total()
		}
		q.Rungs = append(q.Rungs, b)
	}
	starts, err := adm.ListStartOffsets(ctx, q.DLQ.Topic)
	if err != nil {
		return q, fmt.Errorf("dlq size: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, q.DLQ.Topic)
	if err != nil {
		return q, fmt.Errorf("dlq size: %w", err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Err == nil && s.Err == nil {
			q.DLQ.Records += o.Offset - s.Offset
		}
	})
	return q, nil
}
