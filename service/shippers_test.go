package service

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
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
