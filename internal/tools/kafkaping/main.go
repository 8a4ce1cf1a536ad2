// Command kafkaping waits until a Kafka broker answers a metadata request.
//
//	go run ./internal/tools/kafkaping -brokers 127.0.0.1:29092 -timeout 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:29092", "comma-separated seed brokers")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkaping:", err)
		os.Exit(1)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
		meta, err := adm.Metadata(mctx)
		mcancel()
		if err == nil && len(meta.Brokers) > 0 {
			fmt.Printf("kafka at %s answers: cluster %s, %d broker(s)\n", *brokers, meta.Cluster, len(meta.Brokers))
			return
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "kafkaping: no metadata from %s after %s: %v\n", *brokers, *timeout, err)
			os.Exit(1)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
