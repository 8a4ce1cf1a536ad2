package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/config"
	kafkatopics "github.com/hookstream/hookstream/internal/topics"
)

// ensureTopics creates the retry and dead-letter topics that are missing,
// with the partition count of the input topic unless configured, then
// checks what their durability depends on (checkTopics). It returns the
// largest record the DLQ takes.
func ensureTopics(ctx context.Context, cl *kgo.Client, cfg *config.Config, maxMessageBytes int, log zerolog.Logger) (int, error) {
	adm := kadm.NewClient(cl)
	topics := append(cfg.RetryTopics(), cfg.DLQTopic())
	existing, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	for _, t := range topics {
		if d, ok := existing[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		if !cfg.Kafka.CreateTopics {
			return 0, fmt.Errorf("kafka.create_topics is false and these topics are missing: %v", missing)
		}
		if err := createTopics(ctx, adm, cfg, missing, maxMessageBytes); err != nil {
			return 0, err
		}
		// Until the broker has leaders for them, the first retries after a
		// fresh start would stall (a second on a single-node Kafka).
		if err := kafkatopics.WaitForLeaders(ctx, cl, missing); err != nil {
			return 0, err
		}
	}
	return checkTopics(ctx, adm, cfg, missing, maxMessageBytes, log)
}

// createTopics creates topics, hookstream's own: records up to
// maxMessageBytes, and on a rung a retention well past its delay.
func createTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config, topics []string, maxMessageBytes int) error {
	partitions := cfg.Kafka.Partitions
	if partitions == 0 {
		n, err := inputPartitions(ctx, adm, cfg)
		if err != nil {
			return err
		}
		partitions = n
	}
	maxBytes := strconv.Itoa(maxMessageBytes)
	delays := rungDelays(cfg)
	for _, topic := range topics {
		configs := map[string]*string{"max.message.bytes": &maxBytes}
		if d, ok := delays[topic]; ok {
			retention := strconv.FormatInt(max(createdRetention, 10*d).Milliseconds(), 10)
			configs["retention.ms"] = &retention
		}
		resp, err := adm.CreateTopics(ctx, partitions, cfg.Kafka.ReplicationFactor, configs, topic)
		if err != nil {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
		for _, r := range resp.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
	}
	return nil
}

// Retention of the rung topics: what hookstream creates them with, and
// the least it accepts, each at least ten times the rung's delay.
const (
	createdRetention = 7 * 24 * time.Hour
	minRetention     = 24 * time.Hour
)

func rungDelays(cfg *config.Config) map[string]time.Duration {
	delays := map[string]time.Duration{}
	for i, t := range cfg.RetryTopics() {
		delays[t] = cfg.Retry.Rungs[i]
	}
	return delays
}

// checkTopics checks what an acknowledged write to hookstream's topics
// is worth. With acks=all, a write is on min.insync.replicas brokers: on
// a replicated topic that must be at least 2, so hookstream sets it on
// the topics it created and warns about the others. A rung's records must
// outlive their wait: a retention shorter than minRetention (or ten rung
// delays) is refused, as the broker could delete jobs before they are
// due. It returns the largest record the DLQ takes: the lesser of its
// max.message.bytes and maxMessageBytes, and warns when an input topic
// takes larger records (a poison record that large is cut to fit).
func checkTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config, created []string, maxMessageBytes int, log zerolog.Logger) (int, error) {
	topics := append(cfg.RetryTopics(), cfg.DLQTopic())
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return 0, fmt.Errorf("describe topics: %w", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, append(topics, cfg.Kafka.InputTopics...)...)
	if err != nil {
		return 0, fmt.Errorf("describe topic configs: %w", err)
	}
	configValue := func(topic, key string) (int64, bool) {
		rc, err := configs.On(topic, nil)
		if err != nil || rc.Err != nil {
			return 0, false
		}
		for _, c := range rc.Configs {
			if c.Key == key && c.Value != nil {
				n, err := strconv.ParseInt(*c.Value, 10, 64)
				return n, err == nil
			}
		}
		return 0, false
	}
	dlqMax := maxMessageBytes
	if n, ok := configValue(cfg.DLQTopic(), "max.message.bytes"); ok {
		dlqMax = min(dlqMax, int(n))
	}
	if cfg.Kafka.InputRegex == "" {
		for _, input := range cfg.Kafka.InputTopics {
			if n, ok := configValue(input, "max.message.bytes"); ok && int(n) > dlqMax {
				log.Warn().Str("topic", input).Int64("max_message_bytes", n).Int("dlq_max_bytes", dlqMax).
					Msgf("%s takes records of up to %d bytes, the DLQ of %d: a poison record larger than that goes to the DLQ cut, with its size and SHA-256", input, n, dlqMax)
			}
		}
	}
	delays := rungDelays(cfg)
	for _, topic := range topics {
		d, ok := details[topic]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return 0, fmt.Errorf("describe topic %s: %v", topic, d.Err)
		}
		replicas := len(d.Partitions.Sorted()[0].Replicas)
		if rc, err := configs.On(topic, nil); err != nil || rc.Err != nil {
			return 0, fmt.Errorf("describe configs of topic %s: %w", topic, errors.Join(err, rc.Err))
		}
		value := func(key string) (int64, bool) { return configValue(topic, key) }
		want := int64(min(2, replicas))
		if isr, ok := value("min.insync.replicas"); ok && isr < want {
			if slices.Contains(created, topic) {
				v := strconv.FormatInt(want, 10)
				resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: &v}}, topic)
				if err == nil {
					_, err = resp.On(topic, nil)
				}
				if err != nil {
					return 0, fmt.Errorf("set min.insync.replicas=%d on topic %s: %w", want, topic, err)
				}
			} else {
				log.Warn().Str("topic", topic).Int64("min_insync_replicas", isr).Int("replication_factor", replicas).
					Msgf("an acknowledged write to %s may live on one broker only; set min.insync.replicas=%d on it", topic, want)
			}
		}
		if delay, ok := delays[topic]; ok {
			if ms, ok := value("retention.ms"); ok && ms >= 0 && time.Duration(ms)*time.Millisecond < max(minRetention, 10*delay) {
				return 0, fmt.Errorf("topic %s: retention.ms=%d is shorter than %s: the broker could delete delivery jobs before they are due; raise it",
					topic, ms, max(minRetention, 10*delay))
			}
		}
	}
	return dlqMax, nil
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
