package service

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// rsyslogd runs Debian's rsyslogd as this user, with a config of its own:
// a Unix socket that logger writes to, and omkafka writing each message
// to topic on brokers with the template "%jsonmesg%". It returns the
// socket's path.
func rsyslogd(t *testing.T, brokers []string, topic string) string {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal("rsyslogd is required (HOOKSTREAM_TEST_REQUIRE_TOOLS=1): apt-get install rsyslog rsyslog-kafka")
		}
		t.Skip("rsyslogd not installed")
	}
	dir, err := os.MkdirTemp("", "rsyslog") // a Unix socket's path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "log.sock")
	quoted := make([]string, len(brokers))
	for i, b := range brokers {
		quoted[i] = fmt.Sprintf("%q", b)
	}
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q)
module(load="omkafka")
template(name="hookstream" type="string" string="%%jsonmesg%%")
action(type="omkafka" broker=[%s] topic=%q template="hookstream" confParam=["queue.buffering.max.ms=10"])
`, dir, sock, strings.Join(quoted, ","), topic)
	path := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-N1", "-f", path).CombinedOutput(); err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("rsyslogd refuses the config (is rsyslog-kafka installed?): %v\n%s", err, out)
		}
		t.Skipf("rsyslogd cannot load omkafka (apt-get install rsyslog-kafka): %s", out)
	}
	cmd := exec.Command(bin, "-n", "-f", path, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	testenv.Eventually(t, 10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil },
		"rsyslogd did not open %s", sock)
	return sock
}

// Syslog messages sent with logger go through a real rsyslogd and its
// Kafka output into the input topic; hookstream reads them as syslog-json
// and delivers the one the subscription matches.
func TestRsyslogOmkafka(t *testing.T) {
	e := newEnv(t)
	e.cfg.Events.Format = "syslog-json"
	sock := rsyslogd(t, e.brokers, e.input)
	in := e.start()
	rc := newReceiver(t)
	in.subscribe(t, rc, map[string]any{"name": "ssh failures", "filter": map[string]any{"levels": []string{"error"}, "sources": []string{"sshd"}}})

	for _, m := range []struct{ priority, tag, text string }{
		{"auth.info", "sshd", "Accepted publickey for deploy"},
		{"auth.err", "sshd", "Failed password for root from 10.0.0.9"},
		{"cron.err", "CRON", "job failed"},
	} {
		if out, err := exec.Command("logger", "-u", sock, "-p", m.priority, "-t", m.tag, "-i", m.text).CombinedOutput(); err != nil {
			t.Fatalf("logger: %v\n%s", err, out)
		}
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return in.counter("hookstream_events_consumed_total") >= 3 },
		"hookstream did not read the three messages rsyslogd was given")
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == 1 }, "the sshd error was not delivered")
	var got struct {
		Type string `json:"type"`
		Data struct {
			Level, Source, Message, Format, Hostname string
			Facility                                 string `json:"facility_name"`
			Syslog                                   map[string]any
		} `json:"data"`
	}
	for _, body := range rc.deliveredBodies() {
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
	}
	d := got.Data
	if got.Type != "syslog.auth" || d.Level != "error" || d.Source != "sshd" || d.Format != "syslog-json" ||
		d.Message != "Failed password for root from 10.0.0.9" || d.Facility != "auth" || d.Hostname == "" || d.Syslog["rawmsg"] == nil {
		t.Errorf("delivered %+v", got)
	}
	if n := in.counter("hookstream_poison_records_total"); n != 0 {
		t.Errorf("%v records refused as poison", n)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rc.deliveredCount(); n != 1 {
		t.Errorf("%d deliveries, want only the sshd error", n)
	}
}

// With tracing.endpoint set, each attempt is a span exported over
// OTLP/HTTP, read here with the OpenTelemetry Collector's own decoder: a
// child of the traceparent the log event came with, which the webhook
// carries on as the attempt's span.
func TestTracingExportsAttemptSpans(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var mu sync.Mutex
	var spans []ptrace.Span
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Errorf("export is not OTLP protobuf: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rss := req.Traces().ResourceSpans()
		mu.Lock()
		for i := range rss.Len() {
			if name, _ := rss.At(i).Resource().Attributes().Get("service.name"); name.Str() != "hookstream" {
				t.Errorf("service.name %q", name.Str())
			}
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				for k := range sss.At(j).Spans().Len() {
					spans = append(spans, sss.At(j).Spans().At(k))
				}
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)

	e := newEnv(t)
	e.cfg.Tracing.Endpoint = collector.URL + "/v1/traces"
	in := e.start()
	rc := newReceiver(t)
	in.subscribe(t, rc, map[string]any{"name": "traced"})
	cl, err := kgo.NewClient(e.kafka(kgo.DefaultProduceTopic(e.input))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: logEvent(1, `"type":"traced"`),
		Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return rc.deliveredCount() == 1 }, "not delivered")
	in.stop(t) // flushes the last spans
	mu.Lock()
	defer mu.Unlock()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported, want 1", len(spans))
	}
	s := spans[0]
	attrs := s.Attributes().AsRaw()
	if s.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.ParentSpanID().String() != "00f067aa0ba902b7" ||
		s.Kind() != ptrace.SpanKindClient || attrs["hookstream.outcome"] != "delivered" || attrs["http.response.status_code"] != int64(200) ||
		attrs["hookstream.attempt"] != int64(1) {
		t.Errorf("span %s/%s parent %s kind %s attributes %v", s.TraceID(), s.SpanID(), s.ParentSpanID(), s.Kind(), attrs)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id, h := range rc.headers {
		if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanID().String() + "-01"; h.Get("traceparent") != want {
			t.Errorf("webhook %s carries traceparent %q, want the attempt's span %s", id, h.Get("traceparent"), want)
		}
	}
}
