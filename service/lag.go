package service

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// lagInterval is how often consumer lag is read from Kafka.
const lagInterval = 15 * time.Second

// lagReadTimeout is the least time a read of the lag is given, however
// short the interval: a few round trips to the brokers per group.
const lagReadTimeout = 5 * time.Second

// reportLag sets hookstream_consumer_lag for the input group and each
// rung's group every interval until ctx ends: the number autoscalers and
// alerts go by, without a separate exporter.
func (s *Service) reportLag(ctx context.Context, adm *kadm.Client, interval time.Duration) {
	cfg := s.opts.Config
	groups := []string{cfg.Kafka.Group}
	for _, d := range cfg.Retry.Rungs {
		groups = append(groups, cfg.RungGroup(d))
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, max(interval, lagReadTimeout))
		lags, err := adm.Lag(rctx, groups...)
		cancel()
		if err == nil {
			if failing {
				s.log.Info().Msg("consumer lag read again")
				failing = false
			}
			s.metrics.ConsumerLag.Reset()
			lags.Each(func(l kadm.DescribedGroupLag) {
				for _, parts := range l.Lag {
					for _, m := range parts {
						if m.Err == nil {
							s.metrics.ConsumerLag.WithLabelValues(l.Group, m.Topic, strconv.Itoa(int(m.Partition))).Set(float64(m.Lag))
						}
					}
				}
			})
		} else if ctx.Err() == nil && !failing {
			// Once, until a read succeeds again: the gauges keep the
			// last values read meanwhile.
			s.log.Warn().Err(err).Msg("consumer lag not read")
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
