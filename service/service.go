// Package service wires hookstream's parts together and runs them under
// one context: the Redis-backed subscription cache, the Kafka producer,
// the consumer groups of the input topics and of each retry rung, and the
// admin API. Shutdown drains in-flight records, commits, and closes the
// clients in reverse order of creation.
package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/consumer"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/dlq"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/health"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/ingest"
	"github.com/hookstream/hookstream/internal/httpserve"
	"github.com/hookstream/hookstream/kafkaconn"
	"github.com/hookstream/hookstream/metrics"
	"github.com/hookstream/hookstream/processor"
	"github.com/hookstream/hookstream/redisconn"
	"github.com/hookstream/hookstream/retry"
	"github.com/hookstream/hookstream/subscription"
	"github.com/hookstream/hookstream/tracing"
)

// Options configure a Service.
type Options struct {
	Config  config.Config
	Logger  zerolog.Logger
	Version string
	// Registry receives every metric and serves /metrics. Default: a new
	// registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Redis, when set, is used instead of a client built from
	// Config.Redis.URL. The service does not close it.
	Redis redis.UniversalClient
	// Listener, when set, serves the admin API instead of listening on
	// Config.Admin.Addr.
	Listener net.Listener
	// GatewayListener, when set, serves the inbound gateway instead of
	// listening on Config.Gateway.Addr (which may then be empty).
	GatewayListener net.Listener
	// Now is the worker's clock. Default time.Now.
	Now func() time.Time
	// LagInterval is how often consumer lag is read. Default 15s.
	LagInterval time.Duration
}

// Service is one hookstream worker with its admin API.
type Service struct {
	opts    Options
	cfg     config.Config
	log     zerolog.Logger
	reg     *prometheus.Registry
	metrics *metrics.Metrics

	ready       chan struct{}
	addr        net.Addr
	gatewayAddr net.Addr
}

// New checks the options and returns a Service; Run starts it.
func New(opts Options) (*Service, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return &Service{
		opts:    opts,
		cfg:     opts.Config,
		log:     opts.Logger,
		reg:     reg,
		metrics: metrics.New(reg),
		ready:   make(chan struct{}),
	}, nil
}

// Ready is closed once the admin API listens and the consumers run.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// GatewayAddr returns the gateway's address once Ready is closed, nil
// when the gateway is off.
func (s *Service) GatewayAddr() net.Addr { return s.gatewayAddr }

// AdminAddr returns the admin API's address once Ready is closed.
func (s *Service) AdminAddr() net.Addr { return s.addr }

// Run starts everything and blocks until ctx ends and shutdown is done,
// or until a part fails to start.
func (s *Service) Run(ctx context.Context) error {
	cfg := &s.cfg

	// Redis and the subscription cache.
	rdb := s.opts.Redis
	if rdb == nil {
		client, err := redisconn.New(cfg.Redis)
		if err != nil {
			return err
		}
		defer client.Close()
		rdb = client
	}
	if cfg.Redis.TLS.InsecureSkipVerify {
		s.log.Warn().Msg("redis.tls.insecure_skip_verify is set: any server certificate is accepted, and the connection to Redis can be intercepted")
	}
	store := subscription.NewStore(rdb, cfg.Redis.KeyPrefix)
	if err := store.MoveKeys(ctx); err != nil {
		s.log.Warn().Err(err).Msg("subscriptions stored under the keys of an older version could not be moved")
	}
	cache := s.newCache(store)

	// Kafka: the producer of retry and DLQ records, and the topics.
	// Every client connects with the same brokers, TLS and SASL; each gets
	// its own kprom hooks, told apart by a "client" label.
	connect, err := kafkaconn.Options(cfg.Kafka)
	if err != nil {
		return err
	}
	if cfg.Kafka.TLS.InsecureSkipVerify {
		s.log.Warn().Msg("kafka.tls.insecure_skip_verify is set: any server certificate is accepted, and the connection to Kafka can be intercepted")
	}
	kafkaOpts := func(role string, extra ...kgo.Opt) []kgo.Opt {
		hooks := kprom.NewMetrics("hookstream_kafka", kprom.Registerer(s.reg),
			kprom.WithStaticLabel(prometheus.Labels{"client": role}))
		opts := append(slices.Clone(connect), kgo.WithLogger(newKgoLogger(s.log)), kgo.WithHooks(hooks))
		return append(opts, extra...)
	}
	batchMax := int32(min(cfg.Kafka.MaxMessageBytes, 1<<30))
	producer, err := kgo.NewClient(kafkaOpts("producer",
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Rung records linger in the processor, to travel as bundles;
		// the client sends what it is given at once.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(batchMax),
		kgo.ProducerBatchCompression(compression(cfg.Kafka.Compression), kgo.NoCompression()),
	)...)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer producer.Close()
	adm := kadm.NewClient(producer)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	dlqMax, err := ensureTopics(tctx, producer, cfg, cfg.Kafka.MaxMessageBytes, s.log)
	cancel()
	if err != nil {
		return fmt.Errorf("kafka at %s (%s): %w", strings.Join(cfg.Kafka.Brokers, ","), kafkaconn.Describe(cfg.Kafka), err)
	}

	// The pipeline.
	events, err := newEventReader(cfg.Events)
	if err != nil {
		return err
	}
	guard, sender, err := s.newSender(rdb)
	if err != nil {
		return err
	}
	defer sender.Close()
	ladder := ladderOf(cfg)
	tracer, stopTracing, err := tracing.New(tracing.Config{Endpoint: cfg.Tracing.Endpoint, Headers: cfg.Tracing.Headers,
		SampleRatio: cfg.Tracing.SampleRatio}, s.opts.Version)
	if err != nil {
		return err
	}
	defer func() {
		// The spans of the last attempts.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			s.log.Warn().Err(err).Msg("exporting the last spans")
		}
	}()
	procOpts := processor.Options{
		Tracer: tracer,
		Events: events, Subscriptions: cache, Sender: sender, Producer: producer, Ladder: ladder,
		Metrics: s.metrics, Logger: s.log.With().Str("component", "processor").Logger(),
		Linger: cfg.Kafka.ProduceLinger, BundleMaxBytes: min(64<<10, cfg.Kafka.MaxMessageBytes/2),
		MaxRecordBytes: dlqMax,
		Lookup:         store.Get,
		Now:            s.opts.Now,
	}
	var recorder *history.Recorder
	if cfg.History.Attempts > 0 {
		recorder = history.New(rdb, history.Options{Prefix: cfg.Redis.KeyPrefix, Limit: cfg.History.Attempts,
			FlushInterval: cfg.History.FlushInterval, Logger: s.log.With().Str("component", "history").Logger(),
			Known: func(id string) bool { _, ok := cache.Current().Get(id); return ok }})
		procOpts.History = recorder
		procOpts.KeepRequests = cfg.History.Requests != "none"
	}
	firstTopic := ""
	if cfg.Kafka.InputRegex == "" {
		firstTopic = cfg.Kafka.InputTopics[0]
	}
	monitor := health.New(health.Options{
		Store: store, Redis: rdb, Prefix: cfg.Redis.KeyPrefix,
		DisableOnGone: cfg.Delivery.DisableOnGone, DisableAfter: cfg.Delivery.DisableAfter,
		Producer: producer, Topic: firstTopic, Disabled: s.metrics.Disabled,
		Applied: func(ctx context.Context, id string) { _ = cache.Apply(ctx, id) },
		Logger:  s.log.With().Str("component", "health").Logger(),
		Now:     s.opts.Now,
	})
	procOpts.Health = monitor
	proc := processor.New(procOpts)

	// Load subscriptions before consuming anything. The cache refreshes
	// until ctx ends; draining records then match against its last set.
	cacheCtx, stopCache := context.WithCancel(ctx)
	if err := cache.Start(cacheCtx); err != nil {
		stopCache()
		return err
	}
	// Also on a failed start below: stop the cache and wait for it.
	defer func() { stopCache(); cache.Wait() }()

	// Admin API, bound before the consumers join so a busy port fails
	// fast. Until everything has started, a failure releases what was made.
	started := false
	tokens := map[admin.TokenHash]string{}
	for _, entry := range cfg.Admin.Tokens {
		scope, sum, err := config.ParseToken(entry)
		if err != nil {
			return fmt.Errorf("admin.tokens: %w", err)
		}
		tokens[sum] = scope
	}
	// The consumer groups, made below, before the API serves: readiness
	// reads them.
	var groups []*consumer.Group
	limiter := consumer.NewLimiter(cfg.Delivery.MaxInFlight, s.metrics.InFlight)
	dlqReader := &dlq.Reader{
		Client: producer, Topic: cfg.DLQTopic(), FirstRung: ladder.Rungs[0].Topic,
		ConsumerOpts: append(slices.Clone(connect), kgo.WithLogger(newKgoLogger(s.log)), kgo.FetchMaxBytes(4<<20)),
	}
	api := admin.New(admin.Options{
		Store: store, Cache: cache, Producer: producer, EventsTopic: firstTopic, Guard: guard,
		DefaultTimeout: cfg.Delivery.Timeout, DefaultMaxAttempts: cfg.Delivery.MaxAttempts,
		MaxBodyBytes: cfg.Admin.MaxBodyBytes, Gatherer: s.reg, Pprof: cfg.Admin.Pprof, Tokens: tokens,
		RotationWindow: cfg.Delivery.SecretRotationWindow, Sender: sender, Prepare: proc.Prepare, Routes: proc.Routes,
		History: recorder, DLQ: dlqReader, Sources: gateway.NewStore(rdb, cfg.Redis.KeyPrefix),
		Queues: func(ctx context.Context) (admin.Queues, error) {
			return queues(ctx, adm, cfg, limiter.InUse())
		},
		Logger: s.log.With().Str("component", "admin").Logger(),
		Ready: func(ctx context.Context) map[string]admin.Check {
			checks := map[string]admin.Check{"kafka": {Status: "up"}, "pipeline": {Status: "up"}}
			if err := producer.Ping(ctx); err != nil {
				checks["kafka"] = admin.Check{Status: "down", Error: err.Error()}
			}
			for _, g := range groups {
				if n, err := g.Failing(); n > 0 {
					checks["pipeline"] = admin.Check{Status: "down",
						Error: fmt.Sprintf("%d records have no durable outcome and are being retried: %v", n, err)}
				}
			}
			return checks
		},
	})
	ln := s.opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Admin.Addr); err != nil {
			return fmt.Errorf("admin.addr: %w", err)
		}
	}
	s.addr = ln.Addr()
	defer func() {
		if !started {
			ln.Close()
		}
	}()

	// Consumer groups: the input topics, then one group per rung.
	if groups, err = s.newGroups(kafkaOpts, proc, limiter, ladder); err != nil {
		return err
	}
	defer func() {
		if !started {
			for _, g := range groups {
				g.Close()
			}
		}
	}()

	gw, err := s.startGateway(ctx, rdb, producer, firstTopic)
	if err != nil {
		return err
	}
	if gw != nil {
		s.gatewayAddr = gw.addr
		api.UseSources(gw.sources, gw.receipts, "http://"+gw.addr.String())
		// Inbound requests stop first: those being published finish
		// before the producer closes.
		defer gw.stop()
	}
	srv := httpserve.New(api, httpserve.Limits{
		MaxConns: maxConnections(cfg.Admin.MaxConnections), ReadTimeout: cfg.Admin.ReadTimeout,
		WriteTimeout: cfg.Admin.WriteTimeout, Probes: []string{"/healthz", "/readyz", "/metrics"},
	})
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	started = true
	var wg sync.WaitGroup
	if recorder != nil {
		// The recorder outlives the groups, to write their last attempts.
		recCtx, stopRecorder := context.WithCancel(context.Background())
		recDone := make(chan struct{})
		go func() { recorder.Run(recCtx); close(recDone) }()
		defer func() { stopRecorder(); <-recDone }()
	}
	// The monitor outlives the groups too, to disable what their last
	// attempts found gone.
	monCtx, stopMonitor := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() { monitor.Run(monCtx); close(monDone) }()
	defer func() { stopMonitor(); <-monDone }()
	for _, g := range groups {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.Run(runCtx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.reportLag(runCtx, adm, cmp.Or(s.opts.LagInterval, lagInterval)) }()
	inputs := cfg.Kafka.InputTopics
	if cfg.Kafka.InputRegex != "" {
		inputs = []string{"/" + cfg.Kafka.InputRegex + "/"}
	}
	s.log.Info().Str("admin", s.addr.String()).Strs("brokers", cfg.Kafka.Brokers).
		Strs("input", inputs).Strs("retry_topics", cfg.RetryTopics()).Str("dlq", cfg.DLQTopic()).
		Int("subscriptions", cache.Current().Len()).Msg("hookstream running")
	close(s.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvDone:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("admin server: %w", err)
		}
	}
	stopRun()
	s.log.Info().Msg("shutting down: draining in-flight deliveries")
	wg.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	s.log.Info().Msg("stopped")
	return runErr
}

// newGroups makes the consumer groups: the input topics', then one per
// rung, whose records wait until due. On an error it closes what it made.
func (s *Service) newGroups(kafkaOpts func(string, ...kgo.Opt) []kgo.Opt, proc *processor.Processor,
	limiter *consumer.Limiter, ladder retry.Ladder) ([]*consumer.Group, error) {
	cfg := &s.cfg
	groupClient := func(role string) []kgo.Opt {
		return kafkaOpts(role,
			kgo.FetchMaxWait(cfg.Kafka.FetchMaxWait),
			kgo.SessionTimeout(cfg.Kafka.SessionTimeout),
			// The client's default heartbeat (3s) must stay well inside
			// short session timeouts.
			kgo.HeartbeatInterval(min(3*time.Second, cfg.Kafka.SessionTimeout/3)),
			// Brokers return a first batch larger than these, so records up
			// to kafka.max_message_bytes still arrive; the caps bound memory.
			kgo.FetchMaxBytes(cfg.Kafka.FetchMaxBytes),
			kgo.FetchMaxPartitionBytes(cfg.Kafka.FetchMaxPartitionBytes),
		)
	}
	var groups []*consumer.Group
	fail := func(err error) ([]*consumer.Group, error) {
		for _, g := range groups {
			g.Close()
		}
		return nil, err
	}
	input := consumer.Options{
		Group: cfg.Kafka.Group, Topics: cfg.Kafka.InputTopics, Limiter: limiter,
		CommitInterval: cfg.Kafka.CommitInterval, DrainTimeout: cfg.ShutdownTimeout,
		StartAtEnd: cfg.Kafka.StartOffset == "latest", Client: groupClient("input"),
		Logger: s.log.With().Str("component", "consumer").Logger(), Metrics: s.metrics, Now: s.opts.Now,
	}
	if cfg.Kafka.InputRegex != "" {
		input.Topics, input.Regex = []string{cfg.Kafka.InputRegex}, true
	}
	g, err := consumer.New(input, proc.HandleEvent)
	if err != nil {
		return fail(err)
	}
	groups = append(groups, g)
	for _, rung := range ladder.Rungs {
		delay := rung.Delay
		g, err := consumer.New(consumer.Options{
			Group: cfg.RungGroup(delay), Topics: []string{rung.Topic}, Limiter: limiter,
			Due:            func(r *kgo.Record) time.Time { return dueAt(r, delay) },
			MaxWait:        delay,
			CommitInterval: cfg.Kafka.CommitInterval, DrainTimeout: cfg.ShutdownTimeout,
			Client: groupClient("retry_" + config.RungName(delay)), Logger: s.log.With().Str("component", "retry").Logger(), Metrics: s.metrics,
			Now: s.opts.Now,
		}, proc.HandleJob)
		if err != nil {
			return fail(err)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// newCache makes the subscription cache of store, with its metrics.
func (s *Service) newCache(store *subscription.Store) *subscription.Cache {
	cfg := &s.cfg
	cache := subscription.NewCache(store, subscription.CacheOptions{
		Refresh:       cfg.Redis.RefreshInterval,
		MaxMatchBytes: cfg.Events.MaxMatchBytes,
		Logger:        s.log.With().Str("component", "subscriptions").Logger(),
		OnReload: func(n int, err error) {
			if err != nil {
				s.metrics.Reloads.WithLabelValues("error").Inc()
				return
			}
			s.metrics.Reloads.WithLabelValues("ok").Inc()
			s.metrics.Subscriptions.Set(float64(n))
		},
		OnChange: func(n int) { s.metrics.Subscriptions.Set(float64(n)) },
	})
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "hookstream", Name: "redis_up",
		Help: "1 while Redis answers, 0 while workers match from the cached subscriptions."},
		func() float64 {
			if _, err := cache.Health(); err != nil {
				return 0
			}
			return 1
		}))
	return cache
}

// newSender makes the guard of destinations and the sender of every
// attempt, with its metrics; its rate limits are kept in rdb.
func (s *Service) newSender(rdb redis.UniversalClient) (*delivery.Guard, *delivery.Sender, error) {
	cfg := &s.cfg
	guard, err := delivery.NewGuard(cfg.Delivery.AllowNetworks)
	if err != nil {
		return nil, nil, fmt.Errorf("delivery.allow_networks: %w", err)
	}
	firstCooldown, longestCooldown := cfg.BreakerCooldowns()
	sender := delivery.NewSender(delivery.SenderOptions{
		UserAgent:        "hookstream/" + s.opts.Version,
		Guard:            guard,
		MaxResponseBytes: cfg.Delivery.MaxResponseBytes,
		KeepDelivered:    cfg.History.Attempts > 0 && cfg.History.Requests == "all",
		// Keep as many idle connections as attempts may be in flight, or
		// every burst closes and redials the difference.
		MaxIdleConnsPerHost: max(cfg.Delivery.MaxIdleConnsPerHost, cfg.Delivery.MaxInFlightPerEndpoint),
		BreakerFailures:     cfg.Delivery.BreakerFailures,
		BreakerCooldown:     firstCooldown,
		BreakerMaxCooldown:  longestCooldown,
		MaxPerEndpoint:      cfg.Delivery.MaxInFlightPerEndpoint,
		Limiter:             delivery.NewLimiter(rdb, cfg.Redis.KeyPrefix, workerName(), s.opts.Now),
		HostRateLimit:       delivery.RateLimit{PerSecond: cfg.Delivery.RateLimit.PerSecond, Burst: cfg.Delivery.RateLimit.Burst},
		// A delivery waits for its turn no longer than the first rung
		// would have it wait.
		RateWait: cfg.Retry.Rungs[0],
		Now:      s.opts.Now,
	})
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "hookstream", Name: "open_circuit_breakers",
		Help: "Endpoints whose circuit breaker is open."}, func() float64 { return float64(sender.OpenBreakers()) }))
	return guard, sender, nil
}

// ladderOf is the retry ladder of cfg: a topic per rung, then the DLQ.
func ladderOf(cfg *config.Config) retry.Ladder {
	ladder := retry.Ladder{DLQ: cfg.DLQTopic(), MaxRetryAfter: cfg.Retry.MaxRetryAfter}
	for i, t := range cfg.RetryTopics() {
		ladder.Rungs = append(ladder.Rungs, retry.Rung{Topic: t, Delay: cfg.Retry.Rungs[i]})
	}
	return ladder
}

// dueAt is when a retry record is due: its not-before header, but never
// later than its write time plus the rung's delay. Due times then never
// decrease along a partition by more than producers' clocks differ, so a
// record at the head of a paused partition holds those behind it for at
// most the rung's delay; a job whose endpoint asked to wait longer is
// written round the last rung again when it is read (processor.HandleJob).
func dueAt(r *kgo.Record, delay time.Duration) time.Time {
	due := r.Timestamp.Add(delay)
	if v, ok := retry.HeaderValue(r, retry.HeaderNotBefore); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && time.UnixMilli(ms).Before(due) {
			return time.UnixMilli(ms)
		}
	}
	return due
}

// maxConnections is admin.max_connections, or by default 1024 or a
// quarter of the open-file limit, whichever is lower: the rest of the
// descriptors are the Kafka, Redis and endpoint connections'.
func maxConnections(configured int) int {
	if configured > 0 {
		return configured
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur > 0 && lim.Cur/4 < 1024 {
		return max(16, int(lim.Cur/4))
	}
	return 1024
}

// workerName names this process among the workers that share Redis.
func workerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// compression is the codec named in kafka.compression.
func compression(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// newEventReader reads the input topics' records as cfg says they are
// written.
func newEventReader(cfg config.Events) (*ingest.Reader, error) {
	opts := ingest.Options{
		Default: ingest.Format(cfg.Format),
		JSON: event.Locations{Type: cfg.Fields.Type, Level: cfg.Fields.Level, Source: cfg.Fields.Source,
			Timestamp: cfg.Fields.Timestamp, Message: cfg.Fields.Message},
		MaxBytes: cfg.MaxBytes, MaxDepth: cfg.MaxDepth,
	}
	if len(cfg.TopicFormats) > 0 {
		opts.Topics = map[string]ingest.Format{}
		for topic, f := range cfg.TopicFormats {
			opts.Topics[topic] = ingest.Format(f)
		}
	}
	if len(cfg.FormatFields) > 0 {
		opts.Overrides = map[ingest.Format]event.Locations{}
		for f, p := range cfg.FormatFields {
			opts.Overrides[ingest.Format(f)] = event.Locations{Type: p.Type, Level: p.Level, Source: p.Source,
				Timestamp: p.Timestamp, Message: p.Message}
		}
	}
	r, err := ingest.NewReader(opts)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return r, nil
}
