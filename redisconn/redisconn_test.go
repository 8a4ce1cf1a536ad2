package redisconn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/subscription"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// tlsRedis starts a redis-server that speaks only TLS, with a certificate
// of a CA made for it and an ACL user, and returns its port and CA file.
func tlsRedis(t *testing.T) (port int, caFile string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_REDIS") == "1" {
			t.Fatalf("HOOKSTREAM_TEST_REQUIRE_REDIS=1 but no redis-server: %v", err)
		}
		t.Skipf("no redis-server to run with TLS: %v", err)
	}
	caFile, _ = testenv.TestCA(t)
	cert, key := testenv.ServerFiles(caFile)
	addr := testenv.FreeAddr(t)
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `port 0
tls-port %d
bind 127.0.0.1
tls-cert-file %s
tls-key-file %s
tls-ca-cert-file %s
tls-auth-clients no
user default off
user hookstream on >s3cret ~* &* +@all
save ""
appendonly no
dir %s
`, port, cert, key, caFile, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return port, caFile
}

// TestTLSAndACLUser: with the CA and an ACL user, the store works over
// TLS; with the system's CAs, or the wrong password, the connection says
// why it failed.
func TestTLSAndACLUser(t *testing.T) {
	port, caFile := tlsRedis(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", port)
	tests := []struct {
		name string
		cfg  config.Redis
		want string // "" for a working store, else a part of the error
	}{
		{"CA and ACL user", config.Redis{URL: url, Username: "hookstream", PasswordFile: pwFile, TLS: config.TLS{CAFile: caFile}}, ""},
		{"user in the URL", config.Redis{URL: fmt.Sprintf("rediss://hookstream:s3cret@127.0.0.1:%d/0", port), TLS: config.TLS{CAFile: caFile}}, ""},
		{"system CAs", config.Redis{URL: url, Username: "hookstream", PasswordFile: pwFile}, "certificate"},
		{"wrong password", config.Redis{URL: url, Username: "hookstream", Password: "nope", TLS: config.TLS{CAFile: caFile}}, "WRONGPASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var perr error
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if perr = rdb.Ping(ctx).Err(); perr == nil || !strings.Contains(perr.Error(), "connection refused") {
					break // up, or refusing for a reason of its own
				}
			}
			if tt.want != "" {
				if perr == nil || !strings.Contains(perr.Error(), tt.want) {
					t.Fatalf("Ping() = %v, want an error about %s", perr, tt.want)
				}
				return
			}
			if perr != nil {
				t.Fatal(perr)
			}
			store := subscription.NewStore(rdb, "tls")
			sub := subscription.Subscription{ID: "sub_1", Name: "n", URL: "https://example.com/h", Enabled: true,
				Secret: subscription.NewSecret(), MaxAttempts: 5, Timeout: subscription.Duration(time.Second)}
			_ = store.Delete(ctx, sub.ID)
			if err := store.Create(ctx, sub); err != nil {
				t.Fatal(err)
			}
			if got, err := store.Get(ctx, sub.ID); err != nil || got.URL != sub.URL {
				t.Fatalf("Get() = %+v, %v", got, err)
			}
		})
	}
}

func TestNewPicksTheTopology(t *testing.T) {
	tests := []struct {
		cfg      config.Redis
		client   string
		describe string
	}{
		{config.Redis{URL: "redis://127.0.0.1:6379/2"}, "*redis.Client", "127.0.0.1:6379 db 2"},
		{config.Redis{URL: "rediss://u:p@redis.example.com:6380/0"}, "*redis.Client", `redis.example.com:6380 db 0 (TLS, as "u")`},
		{config.Redis{URL: "redis://127.0.0.1:6379/1", Sentinel: config.Sentinel{MasterName: "m", Addrs: []string{"s1:26379", "s2:26379"}}},
			"*redis.Client", `master "m" of sentinels s1:26379,s2:26379 db 1`},
		{config.Redis{URL: "redis://127.0.0.1:6379/0", Username: "svc", Password: "x", Cluster: config.RedisCluster{Addrs: []string{"c1:6379"}}},
			"*redis.ClusterClient", `cluster c1:6379 (as "svc")`},
	}
	for _, tt := range tests {
		rdb, err := New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", rdb); got != tt.client {
			t.Errorf("New(%+v) is a %s, want %s", tt.cfg, got, tt.client)
		}
		if got := Describe(tt.cfg); got != tt.describe {
			t.Errorf("Describe() = %q, want %q", got, tt.describe)
		}
		rdb.Close()
	}
	var _ redis.UniversalClient = (*redis.ClusterClient)(nil)
}
