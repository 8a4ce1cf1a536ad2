package testenv

import (
	"time"

	"github.com/hookstream/hookstream/config"
)

// Config returns the defaults tuned for a test of an in-process worker:
// the given brokers, input topic and Redis key prefix, unique retry and
// DLQ topics and group, short commit, fetch, session and history
// intervals, and loopback destinations allowed.
func Config(brokers []string, input, redisPrefix string) config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.InputTopics = []string{input}
	cfg.Kafka.TopicPrefix = "hs-" + Unique()
	cfg.Kafka.Group = cfg.Kafka.TopicPrefix
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Kafka.FetchMaxWait = 100 * time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Redis.KeyPrefix = redisPrefix
	cfg.Delivery.AllowNetworks = []string{"127.0.0.0/8"}
	cfg.History.FlushInterval = 100 * time.Millisecond
	return cfg
}
