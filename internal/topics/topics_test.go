package topics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/internal/topics"
)

func TestWaitForLeaders(t *testing.T) {
	ready := []string{testenv.Topic("ready-a"), testenv.Topic("ready-b")}
	brokers := testenv.Kafka(t, 3, ready...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	created := testenv.Topic("created")
	if _, err := adm.CreateTopics(context.Background(), 3, 1, nil, created); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		topics  []string
		wantErr string
	}{
		{"existing topics", ready, ""},
		{"a topic just created", []string{created}, ""},
		{"a topic that was never created", []string{ready[0], testenv.Topic("missing")}, "are not served by leaders yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := topics.WaitForLeaders(ctx, cl, tt.topics)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("WaitForLeaders: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("WaitForLeaders = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
