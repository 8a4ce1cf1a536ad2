package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/internal/httpserve"
)

// inbound is the running gateway: its listener and sources.
type inbound struct {
	addr     net.Addr
	sources  *gateway.Sources
	receipts *gateway.Receipts
	stop     func() // stops serving, waiting for requests being published
}

// startGateway serves the inbound webhook listener at gateway.addr (or
// the listener given in Options), publishing to firstTopic unless
// gateway.topic says otherwise, with its sources reloaded every second.
// It returns nil when the gateway is off.
func (s *Service) startGateway(ctx context.Context, rdb redis.UniversalClient, producer *kgo.Client, firstTopic string) (*inbound, error) {
	cfg := s.opts.Config
	ln := s.opts.GatewayListener
	if ln == nil && cfg.Gateway.Addr == "" {
		return nil, nil
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Gateway.Addr); err != nil {
			return nil, fmt.Errorf("gateway.addr: %w", err)
		}
	}
	store := gateway.NewStore(rdb, cfg.Redis.KeyPrefix)
	log := s.log.With().Str("component", "gateway").Logger()
	sources := gateway.NewSources(store, func(err error) { log.Warn().Err(err).Msg("inbound sources not reloaded") })
	if err := sources.Reload(ctx); err != nil {
		log.Warn().Err(err).Msg("inbound sources not loaded yet")
	}
	topic := cfg.Gateway.Topic
	if topic == "" {
		topic = firstTopic
	}
	receipts := gateway.NewReceipts(rdb, cfg.Redis.KeyPrefix)
	g := gateway.New(gateway.Options{
		Sources: sources, Producer: producer, Topic: topic, Redis: rdb, Prefix: cfg.Redis.KeyPrefix, Logger: log, Receipts: receipts,
		PublishTimeout: cfg.Gateway.WriteTimeout * 2 / 3,
		Observe: func(source, outcome string, took time.Duration) {
			s.metrics.Inbound.WithLabelValues(source, outcome).Inc()
			if took > 0 {
				s.metrics.InboundDuration.WithLabelValues(outcome).Observe(took.Seconds())
			}
		},
	})
	srv := httpserve.New(g, httpserve.Limits{MaxConns: maxConnections(cfg.Gateway.MaxConnections),
		ReadTimeout: cfg.Gateway.ReadTimeout, WriteTimeout: cfg.Gateway.WriteTimeout})
	reloadCtx, stopReload := context.WithCancel(context.Background())
	reloaded := make(chan struct{})
	go func() { sources.Run(reloadCtx, time.Second); close(reloaded) }()
	flushed := make(chan struct{})
	go func() { receipts.Run(reloadCtx, 500*time.Millisecond); close(flushed) }()
	served := make(chan struct{})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("gateway stopped serving")
		}
		close(served)
	}()
	log.Info().Str("addr", ln.Addr().String()).Str("topic", topic).Msg("gateway listening: POST /in/{source}")
	return &inbound{addr: ln.Addr(), sources: sources, receipts: receipts, stop: func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Gateway.WriteTimeout)
		_ = srv.Shutdown(sctx)
		cancel()
		<-served
		stopReload()
		<-reloaded
		<-flushed
	}}, nil
}
