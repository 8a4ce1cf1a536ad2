// Package redisconn makes hookstream's Redis client from redis.* config:
// one Redis (redis:// or rediss://), the master of a Sentinel group, or a
// Redis Cluster, with an ACL user and TLS. hookstream's keys are laid out
// so that every script runs on a cluster: the keys one script touches
// share a hash tag.
package redisconn

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/config"
)

// New returns the client of cfg. Secrets in files are read here, once.
func New(cfg config.Redis) (redis.UniversalClient, error) {
	u, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	if cfg.Username != "" {
		u.Username = cfg.Username
	}
	if cfg.Password != "" {
		u.Password = cfg.Password
	}
	if cfg.PasswordFile != "" {
		if u.Password, err = config.ReadSecretFile(cfg.PasswordFile); err != nil {
			return nil, fmt.Errorf("redis.password_file: %w", err)
		}
	}
	if cfg.TLS.On() {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("redis.%w", err)
		}
		if tc.ServerName == "" && u.TLSConfig != nil {
			tc.ServerName = u.TLSConfig.ServerName
		}
		u.TLSConfig = tc
	}
	switch {
	case cfg.Sentinel.MasterName != "":
		sentinelPassword := cfg.Sentinel.Password
		if cfg.Sentinel.PasswordFile != "" {
			if sentinelPassword, err = config.ReadSecretFile(cfg.Sentinel.PasswordFile); err != nil {
				return nil, fmt.Errorf("redis.sentinel.password_file: %w", err)
			}
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.Sentinel.MasterName, SentinelAddrs: cfg.Sentinel.Addrs, SentinelPassword: sentinelPassword,
			Username: u.Username, Password: u.Password, DB: u.DB, TLSConfig: u.TLSConfig,
		}), nil
	case len(cfg.Cluster.Addrs) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Cluster.Addrs, Username: u.Username, Password: u.Password, TLSConfig: u.TLSConfig,
		}), nil
	}
	return redis.NewClient(u), nil
}

// Describe says what cfg reaches and how, without secrets: "redis
// 127.0.0.1:6379 db 0 (TLS, as \"hookstream\")".
func Describe(cfg config.Redis) string {
	u, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return "redis (unparseable URL)"
	}
	var what string
	switch {
	case cfg.Sentinel.MasterName != "":
		what = fmt.Sprintf("master %q of sentinels %s db %d", cfg.Sentinel.MasterName, strings.Join(cfg.Sentinel.Addrs, ","), u.DB)
	case len(cfg.Cluster.Addrs) > 0:
		what = "cluster " + strings.Join(cfg.Cluster.Addrs, ",")
	default:
		what = fmt.Sprintf("%s db %d", u.Addr, u.DB)
	}
	var how []string
	if cfg.TLS.On() || u.TLSConfig != nil {
		how = append(how, "TLS")
	}
	user := cmp.Or(cfg.Username, u.Username)
	if user != "" {
		how = append(how, fmt.Sprintf("as %q", user))
	}
	if len(how) > 0 {
		what += " (" + strings.Join(how, ", ") + ")"
	}
	return what
}
