package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/kafkaconn"
	"github.com/hookstream/hookstream/redisconn"
	"github.com/hookstream/hookstream/subscription"
)

// ConnectionCheck is the outcome of trying one connection hookstream needs.
type ConnectionCheck struct {
	Name   string // kafka, topics, redis
	OK     bool
	Detail string // what worked, or the error as the other side gave it
}

// CheckConnections tries, once each, every connection cfg configures: the
// brokers with their TLS and SASL, the topics hookstream reads and writes,
// and Redis. It is what "hookstream run --check-config --connect" prints.
func CheckConnections(ctx context.Context, cfg config.Config) []ConnectionCheck {
	var out []ConnectionCheck
	add := func(name string, err error, detail string) {
		if err != nil {
			out = append(out, ConnectionCheck{Name: name, Detail: err.Error()})
			return
		}
		out = append(out, ConnectionCheck{Name: name, OK: true, Detail: detail})
	}

	how := fmt.Sprintf("%s (%s)", strings.Join(cfg.Kafka.Brokers, ","), kafkaconn.Describe(cfg.Kafka))
	opts, err := kafkaconn.Options(cfg.Kafka)
	var cl *kgo.Client
	if err == nil {
		cl, err = kgo.NewClient(opts...)
	}
	if err == nil {
		defer cl.Close()
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var meta kadm.Metadata
		meta, err = kadm.NewClient(cl).BrokerMetadata(kctx)
		cancel()
		if err == nil {
			add("kafka", nil, fmt.Sprintf("reached %s: cluster %s, %d broker(s)", how, meta.Cluster, len(meta.Brokers)))
			add("topics", checkTopicsExist(ctx, cl, &cfg), topicSummary(&cfg))
		}
	}
	if err != nil {
		add("kafka", fmt.Errorf("%s: %w", how, err), "")
	}

	target := redisconn.Describe(cfg.Redis)
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		add("redis", err, "")
		return out
	}
	defer rdb.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(rctx).Err(); err != nil {
		add("redis", fmt.Errorf("%s: %w", target, err), "")
		return out
	}
	n, err := rdb.HLen(rctx, subscription.NewStore(rdb, cfg.Redis.KeyPrefix).HashKey()).Result()
	if err != nil {
		add("redis", fmt.Errorf("%s: reached, but cannot read subscriptions: %w", target, err), "")
		return out
	}
	add("redis", nil, fmt.Sprintf("reached %s: %d subscription(s) stored under %q", target, n, cfg.Redis.KeyPrefix))
	return out
}

// checkTopicsExist checks that the input topics exist, and that the retry
// and DLQ topics exist or will be created.
func checkTopicsExist(ctx context.Context, cl *kgo.Client, cfg *config.Config) error {
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	all, err := kadm.NewClient(cl).ListTopics(kctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var problems []string
	if cfg.Kafka.InputRegex != "" {
		re := regexp.MustCompile(cfg.Kafka.InputRegex)
		matched := false
		for _, t := range all.Names() {
			matched = matched || re.MatchString(t)
		}
		if !matched {
			problems = append(problems, fmt.Sprintf("no topic matches kafka.input_regex %q", cfg.Kafka.InputRegex))
		}
	}
	for _, t := range cfg.Kafka.InputTopics {
		if d, ok := all[t]; cfg.Kafka.InputRegex == "" && (!ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition)) {
			problems = append(problems, fmt.Sprintf("input topic %s does not exist (or this user may not describe it)", t))
		}
	}
	if !cfg.Kafka.CreateTopics {
		for _, t := range append(cfg.RetryTopics(), cfg.DLQTopic()) {
			if _, ok := all[t]; !ok {
				problems = append(problems, fmt.Sprintf("%s does not exist and kafka.create_topics is false", t))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func topicSummary(cfg *config.Config) string {
	input := strings.Join(cfg.Kafka.InputTopics, ", ")
	if cfg.Kafka.InputRegex != "" {
		input = "/" + cfg.Kafka.InputRegex + "/"
	}
	return fmt.Sprintf("input %s; retries and DLQ under %s.*", input, cfg.Kafka.TopicPrefix)
}
