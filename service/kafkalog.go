package service

import (
	"context"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoLogger adapts zerolog to franz-go's Logger.
type kgoLogger struct {
	log   zerolog.Logger
	level kgo.LogLevel
}

func newKgoLogger(log zerolog.Logger) *kgoLogger {
	level := kgo.LogLevelWarn
	switch log.GetLevel() {
	case zerolog.TraceLevel:
		level = kgo.LogLevelDebug
	case zerolog.DebugLevel:
		level = kgo.LogLevelInfo
	}
	return &kgoLogger{log: log.With().Str("component", "kafka").Logger(), level: level}
}

func (l *kgoLogger) Level() kgo.LogLevel { return l.level }

func (l *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var e *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		e = l.log.Error()
	case kgo.LogLevelWarn:
		e = l.log.Warn()
	case kgo.LogLevelInfo:
		e = l.log.Info()
	default:
		e = l.log.Debug()
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, ok := keyvals[i].(string); ok {
			e = e.Interface(k, keyvals[i+1])
		}
	}
	e.Msg(msg)
}

// RedisLogger adapts zerolog to go-redis's process-wide logger
// (redis.SetLogger), which otherwise writes plain lines to stderr.
type RedisLogger struct{ Log zerolog.Logger }

// Printf logs a go-redis message as a warning.
func (l RedisLogger) Printf(_ context.Context, format string, v ...any) {
	l.Log.Warn().Msgf(format, v...)
}
