package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBackend is one kind of Redis a test runs on.
type RedisBackend struct {
	Name   string // single, cluster, sentinel
	Client redis.UniversalClient
	Prefix string
}

// RedisBackends returns a single Redis (Redis), and the Redis Cluster and
// Sentinel group of deploy/local/redis.sh when HOOKSTREAM_TEST_REDIS_CLUSTER
// and HOOKSTREAM_TEST_REDIS_SENTINEL name them (CI does). Without them the
// test says so; with HOOKSTREAM_TEST_REQUIRE_REDIS=1 their absence fails
// it.
func RedisBackends(t testing.TB) []RedisBackend {
	t.Helper()
	rdb, prefix := Redis(t)
	out := []RedisBackend{{Name: "single", Client: rdb, Prefix: prefix}}
	if c := RedisCluster(t); c != nil {
		out = append(out, RedisBackend{Name: "cluster", Client: c, Prefix: "test-" + Unique()})
	}
	if s := RedisSentinel(t); s != nil {
		out = append(out, RedisBackend{Name: "sentinel", Client: s, Prefix: "test-" + Unique()})
	}
	return out
}

// RedisCluster returns a client of the cluster of
// HOOKSTREAM_TEST_REDIS_CLUSTER, or nil without one.
func RedisCluster(t testing.TB) redis.UniversalClient {
	t.Helper()
	addrs := topology(t, "HOOKSTREAM_TEST_REDIS_CLUSTER")
	if addrs == nil {
		return nil
	}
	return ready(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), "cluster")
}

// RedisSentinel returns a client of the master that the sentinels of
// HOOKSTREAM_TEST_REDIS_SENTINEL name (HOOKSTREAM_TEST_REDIS_SENTINEL_MASTER),
// or nil without them.
func RedisSentinel(t testing.TB) redis.UniversalClient {
	t.Helper()
	addrs := topology(t, "HOOKSTREAM_TEST_REDIS_SENTINEL")
	if addrs == nil {
		return nil
	}
	return ready(t, redis.NewFailoverClient(&redis.FailoverOptions{MasterName: os.Getenv("HOOKSTREAM_TEST_REDIS_SENTINEL_MASTER"),
		SentinelAddrs: addrs}), "sentinel")
}

// SentinelAddrs and SentinelMaster name the test Sentinel group, when
// there is one.
func SentinelAddrs() []string {
	if v := os.Getenv("HOOKSTREAM_TEST_REDIS_SENTINEL"); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// SentinelMaster is the master's name in the test Sentinel group.
func SentinelMaster() string { return os.Getenv("HOOKSTREAM_TEST_REDIS_SENTINEL_MASTER") }

func topology(t testing.TB, env string) []string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_REDIS") == "1" {
			t.Fatalf("HOOKSTREAM_TEST_REQUIRE_REDIS=1 but %s is not set: start deploy/local/redis.sh and export what its env command prints", env)
		}
		t.Logf("%s not set: not run on it (deploy/local/redis.sh starts one)", env)
		return nil
	}
	return strings.Split(v, ",")
}

func ready(t testing.TB, rdb redis.UniversalClient, what string) redis.UniversalClient {
	t.Helper()
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis %s: %v", what, err)
	}
	return rdb
}

// ForEachRedis runs test as a subtest on each of RedisBackends.
func ForEachRedis(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	for _, b := range RedisBackends(t) {
		t.Run(b.Name, func(t *testing.T) { test(t, b.Client, b.Prefix) })
	}
}
