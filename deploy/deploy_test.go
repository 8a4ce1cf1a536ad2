// Package deploy_test validates the files shipped for operators: the
// example config, the compose file and the Grafana dashboard.
package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/metrics"
)

// TestExampleConfigShowsTheDefaults keeps deploy/hookstream.yaml, the
// config reference, true: apart from the addresses of the stack it
// documents, it must load to exactly the defaults.
func TestExampleConfigShowsTheDefaults(t *testing.T) {
	cfg, err := config.Load("hookstream.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	cfg.Kafka.Brokers, cfg.Redis.URL = def.Kafka.Brokers, def.Redis.URL
	if len(cfg.Delivery.AllowNetworks) == 0 {
		cfg.Delivery.AllowNetworks = def.Delivery.AllowNetworks // [] and nil say the same
	}
	if len(cfg.Admin.Tokens) == 0 {
		cfg.Admin.Tokens = def.Admin.Tokens
	}
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("deploy/hookstream.yaml drifted from config.Default():\n file    %+v\n default %+v", cfg, def)
	}
}

func TestComposeFileReferencesExistingFiles(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Build   any      `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"kafka", "redis", "hookstream", "prometheus", "grafana"} {
		if _, ok := compose.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	for name, svc := range compose.Services {
		if svc.Image == "" && svc.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		for _, v := range svc.Volumes {
			host, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(host, ".") {
				if _, err := os.Stat(filepath.Join("..", host)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, host, err)
				}
			}
		}
	}
}

// capture records what is registered on it.
type capture struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (c *capture) Register(col prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { col.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			c.names[m[1]] = true
		}
	}
	return nil
}
func (c *capture) MustRegister(cs ...prometheus.Collector) {
	for _, col := range cs {
		_ = c.Register(col)
	}
}
func (c *capture) Unregister(prometheus.Collector) bool { return true }

// exported returns the names of the metrics hookstream exports.
func exported() map[string]bool {
	c := &capture{names: map[string]bool{
		// Registered by the service itself as gauge functions.
		"hookstream_redis_up": true, "hookstream_open_circuit_breakers": true,
	}}
	metrics.New(c)
	return c.names
}

// usedMetrics lists the hookstream metrics an expression reads.
func usedMetrics(expr string) []string {
	var out []string
	for _, name := range regexp.MustCompile(`hookstream_[a-z_]+`).FindAllString(expr, -1) {
		out = append(out, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count"))
	}
	return out
}

// TestAlertsUseRealMetrics: every alert rule reads metrics hookstream
// exports (promtool checks their syntax and behaviour: make test-alerts).
func TestAlertsUseRealMetrics(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	names, n := exported(), 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Annotations["runbook"] == "" {
				t.Errorf("alert %s has no runbook", r.Alert)
			}
			for _, m := range usedMetrics(r.Expr) {
				if !names[m] {
					t.Errorf("alert %s uses %s, which hookstream does not export", r.Alert, m)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules")
	}
}

func TestDashboardUsesRealMetrics(t *testing.T) {
	names, n := exported(), 0
	for _, q := range readDashboard(t) {
		for _, name := range usedMetrics(q.expr) {
			n++
			if !names[name] {
				t.Errorf("panel %q uses %s, which hookstream does not export", q.title, name)
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard queries no hookstream metric")
	}
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct{ title, expr string }

// readDashboard returns every query of the shipped Grafana dashboard.
func readDashboard(t *testing.T) []panelQuery {
	t.Helper()
	raw, err := os.ReadFile("grafana/dashboards/hookstream.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var qs []panelQuery
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, panelQuery{p.Title, tg.Expr})
		}
	}
	return qs
}

// TestComposeHookstreamConfig: the compose stack's hookstream, given its
// config file and environment (with a token as `hookstream token` makes
// one), has a config hookstream accepts (what `run --check-config` checks),
// reads the topic kafka-init creates, and is where Prometheus scrapes.
// The stack itself is not started here: there is no container engine.
func TestComposeHookstreamConfig(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Entrypoint  []string          `yaml:"entrypoint"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	hs := compose.Services["hookstream"]
	var env []string
	for k, v := range hs.Environment {
		if strings.HasPrefix(v, "${HOOKSTREAM_ADMIN_TOKENS") {
			v = "admin:" + strings.Repeat("ab", 32)
		}
		env = append(env, k+"="+v)
	}
	var cfgPath string
	for _, v := range hs.Volumes {
		if host, mount, _ := strings.Cut(v, ":"); strings.HasPrefix(mount, "/etc/hookstream/hookstream.yaml") {
			cfgPath = filepath.Join("..", host)
		}
	}
	cfg, err := config.Load(cfgPath, env)
	if err != nil {
		t.Fatalf("the compose hookstream's config is refused: %v", err)
	}
	if cfg.Kafka.Brokers[0] != "kafka:9092" || cfg.Redis.URL != "redis://redis:6379/0" || cfg.Admin.Addr != ":8080" || cfg.Gateway.Addr != ":8082" {
		t.Errorf("compose config: brokers %v, redis %s, admin %s, gateway %s", cfg.Kafka.Brokers, cfg.Redis.URL, cfg.Admin.Addr, cfg.Gateway.Addr)
	}
	init := strings.Join(compose.Services["kafka-init"].Entrypoint, " ")
	if !strings.Contains(init, "--topic "+cfg.Kafka.InputTopics[0]+" ") {
		t.Errorf("kafka-init (%s) does not create the input topic %s", init, cfg.Kafka.InputTopics[0])
	}
	prom, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), `"hookstream:8080"`) {
		t.Errorf("deploy/prometheus.yml does not scrape hookstream:8080:\n%s", prom)
	}
}
