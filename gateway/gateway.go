package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/hookstream/hookstream/subscription"
)

// Producer writes records and waits for their acknowledgement; a
// *kgo.Client is one.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Options configure a Gateway.
type Options struct {
	Sources  *Sources
	Producer Producer
	// Topic receives the requests of sources that name none.
	Topic string
	// Redis deduplicates delivery ids; nil turns deduplication off.
	Redis  redis.UniversalClient
	Prefix string
	Logger zerolog.Logger
	// Observe, when set, is told of each request's outcome: published,
	// duplicate, answered (Slack's challenge) or a Reason.
	Observe func(source, outcome string, took time.Duration)
	// Receipts, when set, keeps each known source's recent requests.
	Receipts *Receipts
	// PublishTimeout bounds the wait for Kafka's acknowledgement. Default 10s.
	PublishTimeout time.Duration
	Now            func() time.Time
}

// Gateway is the inbound webhook listener's handler: POST /in/{source}.
type Gateway struct {
	opts     Options
	mux      *http.ServeMux
	limiters sync.Map // source id → *sourceLimiter
}

// New returns a Gateway.
func New(opts Options) *Gateway {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 10 * time.Second
	}
	g := &Gateway{opts: opts, mux: http.NewServeMux()}
	g.mux.HandleFunc("POST /in/{source}", g.receive)
	g.mux.HandleFunc("/in/{source}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		g.problem(w, r.PathValue("source"), http.StatusMethodNotAllowed, refuse(ReasonMethod, "webhooks are POSTed"), time.Time{})
	})
	g.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, &Refusal{Reason: ReasonUnknownSource, Detail: "post webhooks to /in/{source}"})
	})
	return g
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Headers of the records the gateway publishes.
const (
	HeaderSource     = "hookstream-inbound-source"
	HeaderProvider   = "hookstream-inbound-provider"
	HeaderDeliveryID = "hookstream-inbound-id"
	HeaderReceivedAt = "hookstream-inbound-received-at"
)

func (g *Gateway) receive(w http.ResponseWriter, r *http.Request) {
	start := g.opts.Now()
	id := r.PathValue("source")
	src, ok := g.opts.Sources.Get(id)
	switch {
	case !ok:
		g.problem(w, "", http.StatusNotFound, refuse(ReasonUnknownSource, "no source %q", id), start)
		return
	case !src.Enabled:
		g.problem(w, id, http.StatusForbidden, refuse(ReasonDisabled, "source %q is disabled", id), start)
		return
	case !src.Allowed(remoteAddr(r)):
		g.problem(w, id, http.StatusForbidden, refuse(ReasonIPNotAllowed, "requests from %s are not allowed", remoteAddr(r)), start)
		return
	case !g.allow(src, start):
		w.Header().Set("Retry-After", "1")
		g.problem(w, id, http.StatusTooManyRequests, refuse(ReasonRateLimited, "source %q is over its rate limit", id), start)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, src.MaxBodyBytes))
	if err != nil {
		g.problem(w, id, http.StatusRequestEntityTooLarge, refuse(ReasonTooLarge, "the body exceeds %d bytes", src.MaxBodyBytes), start)
		return
	}
	v, refusal := src.Verify(&Request{Header: r.Header, Query: r.URL.Query(), Body: body, Now: start})
	if refusal != nil {
		g.problem(w, id, http.StatusUnauthorized, refusal, start)
		return
	}
	if v.Reply != nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(v.Reply)
		g.observe(id, "answered", start)
		g.receipt(id, Receipt{Outcome: "answered", Status: http.StatusOK}, start)
		return
	}
	if v.ID == "" {
		v.ID = dedupID(src, r, body)
	}
	key, fresh, dup := g.claim(r.Context(), src, v.ID)
	switch dup {
	case "done":
		writeJSON(w, http.StatusOK, map[string]any{"id": v.ID, "duplicate": true})
		g.observe(id, "duplicate", start)
		g.receipt(id, Receipt{Outcome: "duplicate", DeliveryID: v.ID, Type: v.Type, Status: http.StatusOK}, start)
		return
	case "pending":
		w.Header().Set("Retry-After", "1")
		g.problem(w, id, http.StatusConflict, refuse(ReasonInProgress, "delivery %q is being published; send it again later", v.ID), start)
		return
	}
	rec := g.record(src, v, body, start)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), g.opts.PublishTimeout)
	defer cancel()
	if err := g.opts.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		if fresh {
			g.opts.Redis.Del(ctx, key)
		}
		g.opts.Logger.Warn().Err(err).Str("source", id).Str("topic", rec.Topic).Msg("inbound webhook not published")
		w.Header().Set("Retry-After", "5")
		g.problem(w, id, http.StatusServiceUnavailable, refuse(ReasonUnavailable, "the event log cannot take the webhook now; send it again"), start)
		return
	}
	if fresh {
		g.opts.Redis.Set(ctx, key, "done", time.Duration(src.DedupWindow))
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": v.ID, "topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset})
	g.observe(id, "published", start)
	g.receipt(id, Receipt{Outcome: "published", DeliveryID: v.ID, Type: v.Type, Status: http.StatusOK,
		Detail: fmt.Sprintf("%s/%d/%d", rec.Topic, rec.Partition, rec.Offset)}, start)
}

// claim notes id as being published for src. The claim holds for twice
// the publish timeout, so that a worker that dies while
// publishing does not hold the sender's retries off for long; once
// published it holds for the dedup window. It returns the key it set when
// it set one, and what the key held when it was taken already: "done"
// (published) or "pending". Without an id or Redis there is nothing to
// claim; when Redis fails, the request is published without
// deduplication.
func (g *Gateway) claim(ctx context.Context, src *Compiled, id string) (key string, fresh bool, held string) {
	if id == "" || g.opts.Redis == nil {
		return "", false, ""
	}
	key = subscription.HashTag(g.opts.Prefix) + ":inbound:" + src.ID + ":" + id
	set, err := g.opts.Redis.SetNX(ctx, key, "pending", 2*g.opts.PublishTimeout).Result()
	if err != nil {
		g.opts.Logger.Warn().Err(err).Str("source", src.ID).Msg("inbound deduplication skipped: Redis is unavailable")
		g.observe(src.ID, "dedup_skipped", time.Time{})
		return "", false, ""
	}
	if set {
		return key, true, ""
	}
	held, err = g.opts.Redis.Get(ctx, key).Result()
	if err != nil {
		return "", false, "" // expired meanwhile, or Redis failed: publish
	}
	return key, false, held
}

// record is the log event published for a verified request.
func (g *Gateway) record(src *Compiled, v Verified, body []byte, at time.Time) *kgo.Record {
	typ := v.Type
	if typ == "" {
		typ = "inbound." + src.Provider
	}
	ev := map[string]any{
		"type": typ, "source": "inbound/" + src.ID, "level": "info", "provider": src.Provider,
		"timestamp": at.UTC().Format(time.RFC3339Nano),
	}
	if v.ID != "" {
		ev["id"] = v.ID
	}
	switch {
	case json.Valid(body):
		ev["data"] = json.RawMessage(body)
	case utf8.Valid(body):
		ev["body"] = string(body)
	default:
		ev["body_base64"] = base64.StdEncoding.EncodeToString(body)
	}
	value, _ := json.Marshal(ev)
	topic := src.Topic
	if topic == "" {
		topic = g.opts.Topic
	}
	rec := &kgo.Record{Topic: topic, Value: value, Headers: []kgo.RecordHeader{
		{Key: HeaderSource, Value: []byte(src.ID)},
		{Key: HeaderProvider, Value: []byte(src.Provider)},
		{Key: HeaderReceivedAt, Value: []byte(strconv.FormatInt(at.UnixMilli(), 10))},
	}}
	if v.ID != "" {
		rec.Key = []byte(v.ID)
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderDeliveryID, Value: []byte(v.ID)})
	}
	return rec
}

// dedupID reads a delivery id from the header or JSON path a source
// names, for providers that send none of their own.
func dedupID(src *Compiled, r *http.Request, body []byte) string {
	if src.DedupHeader != "" {
		return r.Header.Get(src.DedupHeader)
	}
	if src.dedupPath == nil {
		return ""
	}
	p := *src.dedupPath
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	v, ok := p.Lookup(obj)
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// sourceLimiter is a source's rate limit, made again when it changes.
type sourceLimiter struct {
	limit RateLimit
	l     *rate.Limiter
}

func (g *Gateway) allow(src *Compiled, now time.Time) bool {
	if src.RateLimit == nil {
		return true
	}
	v, _ := g.limiters.Load(src.ID)
	sl, _ := v.(*sourceLimiter)
	if sl == nil || sl.limit != *src.RateLimit {
		sl = &sourceLimiter{limit: *src.RateLimit, l: rate.NewLimiter(rate.Limit(src.RateLimit.PerSecond), src.RateLimit.Burst)}
		g.limiters.Store(src.ID, sl)
	}
	return sl.l.AllowN(now, 1)
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr
}

// receipt notes a request of a known source, for
// GET /v1/sources/{id}/receipts.
func (g *Gateway) receipt(source string, rc Receipt, start time.Time) {
	if g.opts.Receipts == nil || source == "" {
		return
	}
	rc.Time = start.UTC()
	rc.LatencyMS = float64(g.opts.Now().Sub(start).Microseconds()) / 1000
	g.opts.Receipts.Add(source, rc)
}

func (g *Gateway) observe(source, outcome string, start time.Time) {
	if g.opts.Observe != nil {
		took := time.Duration(0)
		if !start.IsZero() {
			took = g.opts.Now().Sub(start)
		}
		g.opts.Observe(source, outcome, took)
	}
}

// problem answers a refusal as problem details and counts it.
func (g *Gateway) problem(w http.ResponseWriter, source string, status int, rf *Refusal, start time.Time) {
	writeProblem(w, status, rf)
	g.observe(source, string(rf.Reason), start)
	if !start.IsZero() {
		g.receipt(source, Receipt{Outcome: string(rf.Reason), Status: status, Detail: rf.Detail}, start)
	}
}

// Problem is an RFC 9457 problem detail with the refusal's reason.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Reason Reason `json:"reason"`
}

func writeProblem(w http.ResponseWriter, status int, rf *Refusal) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: rf.Detail, Reason: rf.Reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
