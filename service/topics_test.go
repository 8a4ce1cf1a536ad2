package service

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
)

// threeBrokers is a kfake cluster of three brokers holding the input
// topic, and an admin client to it.
func threeBrokers(t *testing.T) (*kgo.Client, *kadm.Client, config.Config) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	cfg := testenv.Config(c.ListenAddrs(), "logs", "p")
	cfg.Kafka.ReplicationFactor = 3
	return cl, kadm.NewClient(cl), cfg
}

func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// The topics hookstream creates on a replicated cluster take acks=all to
// mean two copies, and its rungs keep records far longer than they wait.
func TestCreatedTopicsAreDurable(t *testing.T) {
	cl, adm, cfg := threeBrokers(t)
	var logs bytes.Buffer
	if _, err := ensureTopics(context.Background(), cl, &cfg, cfg.Kafka.MaxMessageBytes, zerolog.New(&logs)); err != nil {
		t.Fatal(err)
	}
	for _, topic := range append(cfg.RetryTopics(), cfg.DLQTopic()) {
		if got := topicConfig(t, adm, topic, "min.insync.replicas"); got != "2" {
			t.Errorf("%s: min.insync.replicas = %q, want 2", topic, got)
		}
	}
	if got := topicConfig(t, adm, cfg.RetryTopics()[0], "retention.ms"); got != "604800000" {
		t.Errorf("rung retention.ms = %q, want 7 days", got)
	}
	if logs.Len() > 0 {
		t.Errorf("warnings on topics hookstream made: %s", logs.String())
	}
}

// On topics that exist, a single acknowledged copy is warned about and a
// rung retention shorter than its records may wait is refused.
func TestExistingTopicsAreChecked(t *testing.T) {
	tests := []struct {
		name    string
		topic   func(config.Config) string
		config  map[string]*string
		warn    string
		refused string
	}{
		{"one copy", func(c config.Config) string { return c.DLQTopic() }, map[string]*string{"min.insync.replicas": ptr("1")},
			"min.insync.replicas=2", ""},
		{"short retention", func(c config.Config) string { return c.RetryTopics()[0] }, map[string]*string{"retention.ms": ptr("60000")},
			"", "retention.ms=60000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, adm, cfg := threeBrokers(t)
			if _, err := ensureTopics(context.Background(), cl, &cfg, cfg.Kafka.MaxMessageBytes, zerolog.Nop()); err != nil {
				t.Fatal(err)
			}
			topic := tt.topic(cfg)
			var alter []kadm.AlterConfig
			for k, v := range tt.config {
				alter = append(alter, kadm.AlterConfig{Name: k, Value: v})
			}
			if _, err := adm.AlterTopicConfigs(context.Background(), alter, topic); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := ensureTopics(ctx, cl, &cfg, cfg.Kafka.MaxMessageBytes, zerolog.New(&logs))
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), topic) {
					t.Errorf("error %v, want one naming %s and %s", err, topic, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), tt.warn) || !strings.Contains(logs.String(), topic) {
				t.Errorf("logs %q, want a warning naming %s and %s", logs.String(), topic, tt.warn)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// A DLQ that takes smaller records than an input topic: poison records
// are cut to what it takes, and the operator is told.
func TestSmallDLQIsMeasured(t *testing.T) {
	cl, adm, cfg := threeBrokers(t)
	if _, err := ensureTopics(context.Background(), cl, &cfg, cfg.Kafka.MaxMessageBytes, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: ptr("100000")}}, cfg.DLQTopic()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	dlqMax, err := ensureTopics(context.Background(), cl, &cfg, cfg.Kafka.MaxMessageBytes, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if dlqMax != 100000 {
		t.Errorf("DLQ takes %d bytes, want its max.message.bytes 100000", dlqMax)
	}
	if !strings.Contains(logs.String(), "goes to the DLQ cut") || !strings.Contains(logs.String(), `"topic":"logs"`) {
		t.Errorf("no warning about the input topic: %s", logs.String())
	}
}
