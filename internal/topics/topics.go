// Package topics waits for Kafka topics to be usable.
package topics

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WaitForLeaders returns once every partition of topics has a leader that
// serves it, or with an error when ctx ends first. A broker answers
// CreateTopics before the topics are in every metadata answer, and
// metadata names a partition's leader before that leader takes writes;
// a client that writes or subscribes at once finds the topic missing or
// is told to retry (a few hundred milliseconds per partition on Kafka).
// Each check asks the brokers: a client's cached metadata would answer
// "unknown topic" for seconds.
func WaitForLeaders(ctx context.Context, cl *kgo.Client, topics []string) error {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && leadersElected(resp, topics) && leadersServe(ctx, cl, resp) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("topics %v are not served by leaders yet: %w", topics, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leadersElected reports whether metadata names a leader for every
// partition of every topic.
func leadersElected(resp *kmsg.MetadataResponse, topics []string) bool {
	ready := 0
	for _, t := range resp.Topics {
		if t.Topic == nil || kerr.ErrorForCode(t.ErrorCode) != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if kerr.ErrorForCode(p.ErrorCode) != nil || p.Leader < 0 {
				return false
			}
		}
		ready++
	}
	return ready == len(topics)
}

// leadersServe asks each partition's leader for its end offset, which it
// answers only once it serves the partition, as it must to take writes.
func leadersServe(ctx context.Context, cl *kgo.Client, meta *kmsg.MetadataResponse) bool {
	reqs := map[int32]*kmsg.ListOffsetsRequest{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req := reqs[p.Leader]
			if req == nil {
				req = kmsg.NewPtrListOffsetsRequest()
				req.ReplicaID = -1
				reqs[p.Leader] = req
			}
			if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != *t.Topic {
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = *t.Topic
				req.Topics = append(req.Topics, rt)
			}
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p.Partition
			rp.CurrentLeaderEpoch = -1
			rp.Timestamp = -1 // the end
			rt := &req.Topics[len(req.Topics)-1]
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	for leader, req := range reqs {
		resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
		if err != nil {
			return false
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if kerr.ErrorForCode(p.ErrorCode) != nil {
					return false
				}
			}
		}
	}
	return true
}
