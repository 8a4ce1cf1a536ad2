// Package embedded runs hookstream's dependencies in process for
// "hookstream dev": a Kafka-protocol broker (franz-go's kfake) that keeps
// its data in a directory, and, unless an external Redis is given, an
// in-memory Redis (miniredis) whose subscriptions are saved to the same
// directory on exit.
package embedded

import (
	"github.com/hookstream/hookstream/subscription"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configure the embedded environment.
type Options struct {
	// KafkaAddr is where the broker listens. Default 127.0.0.1:9092.
	KafkaAddr string
	// DataDir keeps the broker's log and the saved subscriptions.
	DataDir string
	// RedisURL, when set, is used instead of an in-process Redis.
	RedisURL string
	// KeyPrefix is the Redis key prefix whose subscriptions are saved.
	KeyPrefix string
	// Topic is created with Partitions partitions when missing.
	Topic      string
	Partitions int32
}

// Env is a running embedded environment.
type Env struct {
	KafkaAddr string
	RedisURL  string

	opts  Options
	kafka *kfake.Cluster
	redis *miniredis.Miniredis
}

// Start starts the broker and Redis and creates the input topic.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.KafkaAddr == "" {
		opts.KafkaAddr = "127.0.0.1:9092"
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	ln, err := net.Listen("tcp", opts.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("kafka addr %s: %w (is another broker running there? pick another with --kafka-addr)", opts.KafkaAddr, err)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(filepath.Join(opts.DataDir, "kafka")),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.DefaultNumPartitions(int(max(opts.Partitions, 1))),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	env := &Env{KafkaAddr: ln.Addr().String(), opts: opts, kafka: cluster}
	if opts.RedisURL != "" {
		env.RedisURL = opts.RedisURL
	} else {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			cluster.Close()
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		env.redis = m
		env.RedisURL = "redis://" + m.Addr() + "/0"
		if err := env.restore(); err != nil {
			env.Close()
			return nil, err
		}
	}
	if err := env.createTopic(ctx); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

func (e *Env) createTopic(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.KafkaAddr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, e.opts.Partitions, 1, nil, e.opts.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", e.opts.Topic, err)
	}
	return nil
}

// Close saves the subscriptions and sources and stops Redis and the broker.
func (e *Env) Close() error {
	var err error
	if e.redis != nil {
		err = e.save()
		e.redis.Close()
	}
	e.kafka.Close()
	return err
}

type saved struct {
	Version       int64             `json:"version"`
	Subscriptions map[string]string `json:"subscriptions"`
	// Sources are the gateway's inbound sources.
	Sources map[string]string `json:"sources,omitempty"`
}

func (e *Env) savePath() string { return filepath.Join(e.opts.DataDir, "subscriptions.json") }

func (e *Env) keys() (hash, version string) {
	tag := subscription.HashTag(e.opts.KeyPrefix)
	return tag + ":subscriptions", tag + ":subscriptions:version"
}

func (e *Env) save() error {
	hash, version := e.keys()
	s := saved{Subscriptions: map[string]string{}}
	if v, err := e.redis.Get(version); err == nil {
		s.Version, _ = strconv.ParseInt(v, 10, 64)
	}
	fields, _ := e.redis.HKeys(hash)
	for _, f := range fields {
		s.Subscriptions[f] = e.redis.HGet(hash, f)
	}
	sources := subscription.HashTag(e.opts.KeyPrefix) + ":sources"
	fields, _ = e.redis.HKeys(sources)
	for _, f := range fields {
		if s.Sources == nil {
			s.Sources = map[string]string{}
		}
		s.Sources[f] = e.redis.HGet(sources, f)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := e.savePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save subscriptions: %w", err)
	}
	return os.Rename(tmp, e.savePath())
}

func (e *Env) restore() error {
	b, err := os.ReadFile(e.savePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore subscriptions: %w", err)
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restore subscriptions from %s: %w", e.savePath(), err)
	}
	hash, version := e.keys()
	for id, raw := range s.Subscriptions {
		e.redis.HSet(hash, id, raw)
	}
	for id, raw := range s.Sources {
		e.redis.HSet(subscription.HashTag(e.opts.KeyPrefix)+":sources", id, raw)
	}
	return e.redis.Set(version, strconv.FormatInt(s.Version, 10))
}
