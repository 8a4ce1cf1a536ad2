package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/embedded"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/service"
	"github.com/hookstream/hookstream/subscription"
)

func devCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminAddr := fs.String("admin-addr", "127.0.0.1:8080", "admin API listen address")
	kafkaAddr := fs.String("kafka-addr", "127.0.0.1:9092", "embedded Kafka broker listen address")
	inboxAddr := fs.String("inbox-addr", "127.0.0.1:8081", "listen address of the demo webhook receiver (empty: none)")
	gatewayAddr := fs.String("gateway-addr", "127.0.0.1:8082", "listen address of the inbound webhook gateway (empty: none)")
	dataDir := fs.String("data-dir", ".hookstream", "directory for the broker's data and saved subscriptions")
	redisURL := fs.String("redis-url", "", "use this Redis instead of the in-process one")
	path := fs.String("config", "", "optional YAML config applied before the dev settings")
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
	if *path == "" && os.Getenv("HOOKSTREAM_LOG_FORMAT") == "" {
		cfg.Log.Format = "console"
	}
	if *path == "" && os.Getenv("HOOKSTREAM_EVENTS_FORMAT") == "" {
		// Whatever a log shipper writes: OTLP, ECS, CloudEvents, rsyslog's JSON.
		cfg.Events.Format = "auto"
	}
	log := newLogger(cfg.Log, stderr)
	topic := cfg.Kafka.InputTopics[0]

	env, err := embedded.Start(ctx, embedded.Options{
		KafkaAddr: *kafkaAddr, DataDir: *dataDir, RedisURL: *redisURL,
		KeyPrefix: cfg.Redis.KeyPrefix, Topic: topic, Partitions: 6,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Close(); err != nil {
			log.Error().Err(err).Msg("closing the embedded environment")
		}
	}()
	cfg.Kafka.Brokers = []string{env.KafkaAddr}
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.InputRegex = ""
	cfg.Redis.URL = env.RedisURL
	cfg.Admin.Addr = *adminAddr
	cfg.Gateway.Addr = *gatewayAddr
	// The API takes a token even here, printed below.
	token, entry := newToken(config.ScopeAdmin)
	cfg.Admin.Tokens = append(cfg.Admin.Tokens, entry)
	// Dev deliveries go to local receivers: allow loopback explicitly.
	cfg.Delivery.AllowNetworks = append(cfg.Delivery.AllowNetworks, "127.0.0.0/8", "::1/128")
	if err := cfg.Validate(); err != nil {
		return err
	}

	ropts, err := redis.ParseURL(env.RedisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	inboxURL := ""
	if *inboxAddr != "" {
		ln, err := net.Listen("tcp", *inboxAddr)
		if err != nil {
			return fmt.Errorf("inbox addr: %w", err)
		}
		inbox := &embedded.Inbox{
			Keys:   embedded.StoreKeys(subscription.NewStore(rdb, cfg.Redis.KeyPrefix)),
			Logger: log.With().Str("component", "inbox").Logger(),
		}
		srv := &http.Server{Handler: inbox, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		inboxURL = "http://" + ln.Addr().String() + "/"
	}

	demo := ""
	if *gatewayAddr != "" {
		if demo, err = demoSource(ctx, gateway.NewStore(rdb, cfg.Redis.KeyPrefix)); err != nil {
			return err
		}
	}
	svc, err := service.New(service.Options{Config: cfg, Logger: log, Version: version, Redis: rdb})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-svc.Ready():
	}
	printNextSteps(stdout, svc.AdminAddr().String(), token, env.KafkaAddr, topic, inboxURL, *redisURL == "", *dataDir)
	if addr := svc.GatewayAddr(); addr != nil {
		printGateway(stdout, addr.String(), demo, strings.TrimSuffix(cmp.Or(inboxURL, "http://127.0.0.1:9000/"), "/")+"/")
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	return <-done
}

func printNextSteps(w io.Writer, admin, token, kafka, topic, inbox string, embeddedRedis bool, dataDir string) {
	target := inbox
	if target == "" {
		target = "http://127.0.0.1:9000/webhook"
	}
	redisNote := "external Redis"
	if embeddedRedis {
		redisNote = "in-process Redis, saved to " + dataDir + "/subscriptions.json on exit"
	}
	fmt.Fprintf(w, `
hookstream dev is running
  console    http://%[1]s/ui/   (sign in with the token)
  admin API  http://%[1]s   (GET /readyz, GET /metrics)
  token      %[7]s   (a new admin token each run)
  kafka      %[2]s   topic %[3]q, data in %[6]s
  redis      %[5]s
  inbox      %[4]s   (a demo receiver that checks signatures and logs each webhook)

1. Create a subscription (the response shows its signing secret once):

  export HOOKSTREAM_TOKEN=%[7]s
  curl -sS -X POST http://%[1]s/v1/subscriptions -H "authorization: Bearer $HOOKSTREAM_TOKEN" \
    -H 'content-type: application/json' -d '{"name":"errors","url":"%[4]s","filter":{"levels":["error"]}}'

2. Send a log event, through the API or any Kafka client:

  curl -sS -X POST http://%[1]s/v1/events -H "authorization: Bearer $HOOKSTREAM_TOKEN" \
    -H 'content-type: application/json' -d '{"type":"payment.failed","level":"error","source":"payment-api","message":"card declined"}'

  echo '{"type":"payment.failed","level":"error","source":"payment-api"}' | kcat -P -b %[2]s -t %[3]s

  The topic takes what log shippers write, told apart per record: OTLP from an OpenTelemetry Collector,
  ECS, CloudEvents, rsyslog's JSON (README "Connect your log shipper"). A CloudEvent and a syslog message:

  echo '{"message":"disk full","level":"error"}' | kcat -P -b %[2]s -t %[3]s \
    -H ce_specversion=1.0 -H ce_id=disk-1 -H ce_source=/hosts/web-1 -H ce_type=disk.full
  echo '{"msg":"Failed password for root","syslogseverity":"3","programname":"sshd","hostname":"web-1"}' | kcat -P -b %[2]s -t %[3]s

3. Or do the same with hookstream's own commands, in another shell (make build puts the binary in bin/):

  export HOOKSTREAM_SERVER=http://%[1]s HOOKSTREAM_TOKEN=%[7]s
  hookstream subs create --name errors --url %[4]s --levels error
  echo '{"type":"payment.failed","level":"error"}' | hookstream publish --brokers %[2]s --topic %[3]s
  hookstream subs list; hookstream stats; hookstream dlq list

4. Deliver in the shape another service reads: each of these posts to the inbox, which logs what it got
   (README "Payloads" has every option; "hookstream subs preview ID" shows a request without sending it):

%[8]s`, admin, kafka, topic, target, redisNote, dataDir, token, formatExamples(strings.TrimSuffix(target, "/")+"/"))
}

// formatExamples are the dev banner's commands that create one
// subscription per payload format, posting to base + the format's name.
func formatExamples(base string) string {
	var b strings.Builder
	for _, ex := range []struct{ name, flags string }{
		{"slack", `--payload '{"format":"slack","summary":"{{ .type }} on {{ .source }}: {{ .message }}"}'`},
		{"teams", `--payload '{"format":"teams"}'`},
		{"discord", `--payload '{"format":"discord"}'`},
		{"pagerduty", `--payload '{"format":"pagerduty","routing_key":"R0UT1NGK3YEXAMPLE","dedup_key":"{{ .type }}/{{ .source }}"}'`},
		{"cloudevents", `--payload '{"format":"cloudevents","source":"/logs/{{ .source }}"}'`},
		{"github", `--payload '{"format":"github-dispatch","event_type":"log-{{ .level }}"}' --auth '{"type":"bearer","token":"ghp_example"}'`},
		{"template", `--payload '{"format":"template","body":"{\"alert\":\"{{ .message }}\",\"level\":\"{{ upper .level }}\"}"}'`},
		{"raw", `--payload '{"format":"raw"}' --signing v1a`},
	} {
		fmt.Fprintf(&b, "  hookstream subs create --name %s --url %s%s --levels error %s\n", ex.name, base, ex.name, ex.flags)
	}
	return b.String()
}

// demoBody is what the dev banner's curl posts to the demo source.
const demoBody = `{"action":"opened","number":42,"pull_request":{"title":"Retry on 503"}}`

// demoSource stores the demo's inbound source, a GitHub one with a secret
// made for this run, and returns that secret.
func demoSource(ctx context.Context, store *gateway.Store) (string, error) {
	secret := gateway.NewSecret()
	now := time.Now().UTC()
	err := store.Put(ctx, gateway.Source{ID: "demo", Name: "GitHub (demo)", Provider: "github", Secrets: []string{secret},
		Enabled: true, CreatedAt: now, UpdatedAt: now})
	return secret, err
}

// printGateway shows the gateway's address and a ready-to-paste request
// to its demo source, signed as GitHub signs.
func printGateway(w io.Writer, addr, secret, inbox string) {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(demoBody))
	fmt.Fprintf(w, `
Inbound webhooks: the gateway listens on http://%[1]s/in/{source}; sources are managed with /v1/sources.
A GitHub-style source "demo" is ready. Route what it receives to the inbox, then send it a signed request:

  hookstream subs create --name inbound --url %[4]sinbound --sources 'inbound/*'
  curl -sS -X POST http://%[1]s/in/demo -H 'X-GitHub-Event: pull_request' -H 'X-GitHub-Delivery: demo-1' \
    -H 'X-Hub-Signature-256: sha256=%[2]s' -H 'content-type: application/json' -d '%[3]s'

`, addr, hex.EncodeToString(mac.Sum(nil)), demoBody, inbox)
}
