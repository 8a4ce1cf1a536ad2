// Command hookstream turns log events flowing through Kafka into signed
// webhooks.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/service"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// clock is the workers' clock; nil is time.Now. A build for the fault
// suite (-tags faults) may set it off (clock_faults.go).
var clock func() time.Time

const usage = `hookstream turns log events flowing through Kafka into signed webhooks.

Usage:
  hookstream run --config FILE [--check-config [--connect]]
                                                  run workers and the admin API
  hookstream dev [flags]                          run with an embedded broker and Redis
  hookstream token [--scope admin|read]           make an admin API token and its config entry
  hookstream version                              print the version

Managing a running hookstream through its admin API (--server, HOOKSTREAM_TOKEN):
  hookstream subs list|get|create|update|delete|test|rotate-secret|attempts
  hookstream dlq list|replay
  hookstream sources list|get|create|update|delete|rotate-secret   inbound webhook sources
  hookstream stats
  hookstream apply -f FILE [--prune] [--dry-run]  make stored subscriptions match a file
  hookstream publish [FILE]                       publish JSON lines to the input topic

Run "hookstream COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "dev":
		err = devCmd(ctx, args[1:], stdout, stderr)
	case "token":
		err = tokenCmd(args[1:], stdout, stderr)
	case "subs":
		return exitCode(subsCmd(ctx, args[1:], stdout, stderr), stderr)
	case "dlq":
		return exitCode(dlqCmd(ctx, args[1:], stdout, stderr), stderr)
	case "sources":
		return exitCode(sourcesCmd(ctx, args[1:], stdout, stderr), stderr)
	case "stats":
		return exitCode(statsCmd(ctx, args[1:], stdout, stderr), stderr)
	case "apply":
		return exitCode(applyCmd(ctx, args[1:], stdout, stderr), stderr)
	case "publish":
		return exitCode(publishCmd(ctx, args[1:], os.Stdin, stdout, stderr), stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "hookstream %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookstream: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "hookstream: %v\n", err)
		return 1
	}
}

var errUsage = errors.New("usage")

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file; every field can be overridden by HOOKSTREAM_* variables")
	check := fs.Bool("check-config", false, "validate the config and exit 0 if valid, 1 if not")
	connect := fs.Bool("connect", false, "with --check-config: also try every connection (Kafka with its TLS and SASL, the topics, Redis) once and print what worked")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintln(stdout, "config is valid")
		if !*connect {
			return nil
		}
		// The Redis pool's own retries would log each failure again; the
		// check reports it once.
		redis.SetLogger(service.RedisLogger{Log: zerolog.Nop()})
		failed := 0
		for _, c := range service.CheckConnections(ctx, cfg) {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
				failed++
			}
			fmt.Fprintf(stdout, "%s %-7s %s\n", mark, c.Name, c.Detail)
		}
		if failed > 0 {
			return fmt.Errorf("%d connection check(s) failed", failed)
		}
		return nil
	}
	if *connect {
		return usageError("run: --connect goes with --check-config")
	}
	if !cfg.Admin.Pprof {
		// No one can ask for a heap profile: stop sampling for one, and
		// the runtime never makes its 1.4 MB table of sampled stacks.
		runtime.MemProfileRate = 0
	}
	log := newLogger(cfg.Log, stderr)
	redis.SetLogger(service.RedisLogger{Log: log.With().Str("component", "redis").Logger()})
	svc, err := service.New(service.Options{Config: cfg, Logger: log, Version: version, Now: clock})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

func newLogger(cfg config.Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	if cfg.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func tokenCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scope := fs.String("scope", config.ScopeAdmin, "admin (every route) or read (GET routes only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *scope != config.ScopeAdmin && *scope != config.ScopeRead {
		fmt.Fprintf(stderr, "hookstream token: --scope must be admin or read, not %q\n", *scope)
		return errUsage
	}
	token, entry := newToken(*scope)
	fmt.Fprintf(stdout, "token:  %s\nconfig: admin.tokens: [%q]   (or HOOKSTREAM_ADMIN_TOKENS=%s)\n", token, entry, entry)
	fmt.Fprintln(stdout, "Keep the token secret; hookstream stores only its hash.")
	return nil
}

// newToken makes a random bearer token and its admin.tokens entry.
func newToken(scope string) (token, entry string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token = "hst_" + base64.RawURLEncoding.EncodeToString(b)
	sum := admin.HashToken(token)
	return token, scope + ":" + hex.EncodeToString(sum[:])
}
