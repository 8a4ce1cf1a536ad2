// Package testenv gives tests real dependencies: a Redis server and a
// Kafka-protocol broker.
//
// Redis comes from REDIS_URL when set, else from a redis-server started on
// a free port, else from in-process miniredis with a loud warning. With
// HOOKSTREAM_TEST_REQUIRE_REDIS=1 (as CI sets it) the fallback is an error.
//
// Kafka comes from HOOKSTREAM_TEST_KAFKA (host:port of a real broker) when
// set, else from an in-process kfake cluster.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	kafkatopics "github.com/hookstream/hookstream/internal/topics"
)

// Redis returns a client to a real Redis and a key prefix unique to the
// test, so tests can share one server.
func Redis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	url := redisURL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL %q: %v", url, err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", url, err)
	}
	return rdb, "test-" + Unique()
}

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error

	miniOnce sync.Once
	miniAddr string
	miniErr  error
)

func redisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	serverOnce.Do(func() { serverURL, serverErr = startRedisServer() })
	if serverErr == nil {
		return serverURL
	}
	if os.Getenv("HOOKSTREAM_TEST_REQUIRE_REDIS") == "1" {
		t.Fatalf("HOOKSTREAM_TEST_REQUIRE_REDIS=1 but no Redis: set REDIS_URL or install redis-server (%v)", serverErr)
	}
	// One miniredis serves the whole test binary, as one redis-server
	// would: two clients of one test must see the same data.
	miniOnce.Do(func() {
		m := miniredis.NewMiniRedis()
		if miniErr = m.Start(); miniErr == nil {
			miniAddr = m.Addr()
		}
	})
	if miniErr != nil {
		t.Fatalf("miniredis: %v", miniErr)
	}
	msg := fmt.Sprintf("WARNING: no REDIS_URL and no redis-server (%v): %s runs against in-process miniredis, not a real Redis", serverErr, t.Name())
	fmt.Fprintln(os.Stderr, msg)
	t.Log(msg)
	return "redis://" + miniAddr + "/0"
}

// startRedisServer starts one redis-server for the test binary. It is
// killed when the binary's parent pipe closes; tests do not stop it.
func startRedisServer() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "hookstream-redis-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", err
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, _ := redis.ParseURL(url)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			redisProcs = append(redisProcs, cmd.Process)
			return url, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return "", fmt.Errorf("redis-server did not answer on port %d: %w", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var redisProcs []*os.Process

// Main runs a package's tests, then stops any redis-server they started
// and removes the binaries Binary built for them. Call it from TestMain
// in every package that uses Redis or Binary.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	for _, p := range redisProcs {
		_ = p.Kill()
		_, _ = p.Wait()
	}
	removeBinaries()
	return code
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Kafka returns seed brokers with the given topics created, each with
// partitions partitions. Topic names should come from Topic so that tests
// sharing a real broker do not collide.
func Kafka(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	if addr := os.Getenv("HOOKSTREAM_TEST_KAFKA"); addr != "" {
		brokers := strings.Split(addr, ",")
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if len(topics) > 0 {
			resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
			if err != nil {
				t.Fatalf("create topics on %s: %v", addr, err)
			}
			for _, r := range resp.Sorted() {
				if r.Err != nil {
					t.Fatalf("create topic %s: %v", r.Topic, r.Err)
				}
			}
			if err := kafkatopics.WaitForLeaders(ctx, cl, topics); err != nil {
				t.Fatal(err)
			}
		}
		return brokers
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// Unique returns a short random string for names.
func Unique() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Topic returns a topic name unique to this test run.
func Topic(base string) string { return base + "-" + Unique() }

// SetTopicConfig sets one config of topic through cl, as an operator
// altering it would.
func SetTopicConfig(t testing.TB, cl *kgo.Client, topic, key, value string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: key, Value: &value}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("set %s of %s to %s: %v", key, topic, value, err)
	}
}
