package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/kafkaconn"
)

const publishUsage = `Usage:
  hookstream publish [--config FILE] [--brokers HOST:PORT,...] [--topic T] [FILE|-]

Publishes log events, one JSON object per line, from FILE or stdin to a
Kafka topic (default: the first input topic and the brokers of the config,
HOOKSTREAM_* variables included), each acknowledged by every in-sync
replica. Lines that are not JSON objects are reported with their line
number and skipped, and events not acknowledged within --timeout are
counted as not published; the exit code is then 1.
`

func publishCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, publishUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "YAML config file to take the brokers and topic from")
	brokers := fs.String("brokers", "", "seed brokers, comma-separated (default: kafka.brokers)")
	topic := fs.String("topic", "", "topic (default: the first of kafka.input_topics)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long an event may take to be acknowledged before it counts as not published")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("publish: at most one file")
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	seeds := cfg.Kafka.Brokers
	if *brokers != "" {
		seeds = splitList(*brokers)
	}
	if *topic == "" {
		if cfg.Kafka.InputRegex != "" {
			return usageError("publish: the input is a regex (kafka.input_regex); name a --topic")
		}
		*topic = cfg.Kafka.InputTopics[0]
	}
	in := stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cfg.Kafka.Brokers = seeds
	connect, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(connect, kgo.DefaultProduceTopic(*topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(int32(min(cfg.Kafka.MaxMessageBytes, 1<<30))),
		kgo.RecordDeliveryTimeout(*timeout))...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()

	var (
		sent   atomic.Int64
		mu     sync.Mutex
		failed error
	)
	bad := 0
	r := bufio.NewReader(in)
	for line := 1; ; line++ {
		b, readErr := r.ReadBytes('\n')
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return readErr
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			if !isObject(b) {
				bad++
				fmt.Fprintf(stderr, "hookstream publish: line %d: not a JSON object, skipped\n", line)
			} else {
				cl.Produce(ctx, &kgo.Record{Value: b}, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						failed = errors.Join(failed, err)
						mu.Unlock()
						return
					}
					sent.Add(1)
				})
			}
		}
		if readErr != nil {
			break
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %d events to %s\n", sent.Load(), *topic)
	switch {
	case failed != nil:
		return fmt.Errorf("some events were not published: %w", failed)
	case bad > 0:
		return fmt.Errorf("%d lines were not JSON objects and were skipped", bad)
	}
	return nil
}

func isObject(b []byte) bool {
	var obj map[string]json.RawMessage
	return b[0] == '{' && json.Unmarshal(b, &obj) == nil
}
