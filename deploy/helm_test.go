package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/hookstream/hookstream/config"
)

const chartDir = "helm/hookstream"

// token is an admin token entry as `hookstream token` prints it.
var token = "admin:" + strings.Repeat("ab", 32)

// required are the values every install must give.
func required() map[string]any {
	return map[string]any{
		"config":  map[string]any{"kafka": map[string]any{"brokers": []any{"kafka-0.kafka:9092", "kafka-1.kafka:9092"}}},
		"secrets": map[string]any{"redisURL": "redis://redis:6379/0", "adminTokens": []any{token}},
	}
}

// with returns the required values with path set to v.
func with(sets ...any) map[string]any {
	vals := required()
	for i := 0; i < len(sets); i += 2 {
		m := vals
		keys := strings.Split(sets[i].(string), ".")
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[keys[len(keys)-1]] = sets[i+1]
	}
	return vals
}

// render renders the chart with vals as `helm template` would.
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	values, err := util.ToRenderValues(chrt, vals, common.ReleaseOptions{Name: "hs", Namespace: "logs", IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	return engine.Render(chrt, values)
}

// object is one rendered manifest, decoded strictly into its API type.
type object struct {
	kind string
	obj  any
}

// decode reads every rendered manifest into its Kubernetes (or operator)
// API type, failing on a field the type does not have.
func decode(t *testing.T, out map[string]string) map[string]object {
	t.Helper()
	objs := map[string]object{}
	for name, text := range out {
		if !strings.HasSuffix(name, ".yaml") || strings.TrimSpace(text) == "" {
			continue
		}
		for _, doc := range strings.Split(text, "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", name, err, doc)
			}
			var meta struct{ APIVersion, Kind string }
			if err := json.Unmarshal(js, &meta); err != nil || meta.Kind == "" {
				if string(js) == "null" {
					continue
				}
				t.Fatalf("%s: no kind: %s", name, js)
			}
			var obj any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			case "keda.sh/v1alpha1 ScaledObject":
				obj = &kedav1alpha1.ScaledObject{}
			default:
				t.Fatalf("%s: unexpected %s %s", name, meta.APIVersion, meta.Kind)
			}
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(obj); err != nil {
				t.Fatalf("%s: %s does not decode strictly: %v\n%s", name, meta.Kind, err, doc)
			}
			objs[meta.Kind] = object{meta.Kind, obj}
		}
	}
	return objs
}

// TestChartLint runs helm lint, strict, on the chart with the required
// values.
func TestChartLint(t *testing.T) {
	lint := action.NewLint()
	lint.Strict = true
	res := lint.Run([]string{chartDir}, required())
	for _, m := range res.Messages {
		t.Logf("lint: %s", m)
	}
	for _, err := range res.Errors {
		t.Errorf("lint: %v", err)
	}
}

// TestChartRenders renders the chart with several value sets: every
// object decodes strictly into its API type, the config is one hookstream
// accepts with the environment the Deployment gives it, and the pod
// waits longer than hookstream's shutdown timeout before it is killed.
func TestChartRenders(t *testing.T) {
	tests := []struct {
		name  string
		vals  map[string]any
		kinds []string
	}{
		{"required values", required(), []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service"}},
		{"KEDA, ServiceMonitor and gateway", with("keda.enabled", true, "keda.maxReplicaCount", 6, "serviceMonitor.enabled", true,
			"gateway.enabled", true, "config.kafka.group", "orders"),
			[]string{"ConfigMap", "Deployment", "PodDisruptionBudget", "ScaledObject", "Secret", "Service", "ServiceMonitor"}},
		{"existing secret, no PDB", with("secrets", map[string]any{"existingSecret": "hookstream-secrets"}, "podDisruptionBudget.enabled", false,
			"shutdownTimeoutSeconds", 90), []string{"ConfigMap", "Deployment", "Service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := render(t, tt.vals)
			if err != nil {
				t.Fatal(err)
			}
			objs := decode(t, out)
			var kinds []string
			for k := range objs {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kinds %v, want %v", kinds, tt.kinds)
			}
			cm := objs["ConfigMap"].obj.(*corev1.ConfigMap)
			dep := objs["Deployment"].obj.(*appsv1.Deployment)
			env := []string{}
			if s, ok := objs["Secret"]; ok {
				for k, v := range s.obj.(*corev1.Secret).StringData {
					env = append(env, map[string]string{"REDIS_URL": "HOOKSTREAM_REDIS_URL", "ADMIN_TOKENS": "HOOKSTREAM_ADMIN_TOKENS"}[k]+"="+v)
				}
			} else {
				env = append(env, "HOOKSTREAM_REDIS_URL=redis://redis:6379/0", "HOOKSTREAM_ADMIN_TOKENS="+token)
			}
			path := filepath.Join(t.TempDir(), "hookstream.yaml")
			writeFile(t, path, cm.Data["hookstream.yaml"])
			cfg, err := config.Load(path, env)
			if err != nil {
				t.Fatalf("hookstream refuses the rendered config: %v\n%s", err, cm.Data["hookstream.yaml"])
			}
			if cfg.Admin.Addr != "0.0.0.0:8080" || len(cfg.Admin.Tokens) != 1 {
				t.Errorf("admin %s with %d tokens", cfg.Admin.Addr, len(cfg.Admin.Tokens))
			}
			grace := *dep.Spec.Template.Spec.TerminationGracePeriodSeconds
			if float64(grace) <= cfg.ShutdownTimeout.Seconds() {
				t.Errorf("grace period %ds is not longer than shutdown_timeout %s", grace, cfg.ShutdownTimeout)
			}
			c := dep.Spec.Template.Spec.Containers[0]
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("probes %s, %s", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
			}
			for _, e := range c.Env {
				if e.Value != "" {
					t.Errorf("env %s holds a value in the Deployment; secrets come from a Secret", e.Name)
				}
			}
			if so, ok := objs["ScaledObject"]; ok {
				s := so.obj.(*kedav1alpha1.ScaledObject)
				if dep.Spec.Replicas != nil {
					t.Error("the Deployment sets replicas beside a ScaledObject")
				}
				q := s.Spec.Triggers[0].Metadata["query"]
				if !strings.Contains(q, `hookstream_consumer_lag{group="orders"}`) {
					t.Errorf("KEDA query %q does not read the input group's lag", q)
				}
			}
		})
	}
}

// TestChartRefusesValuesThatCannotWork: each fails rendering, saying why.
func TestChartRefusesValuesThatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no brokers", with("config", map[string]any{"kafka": map[string]any{"brokers": []any{}}}), "config.kafka.brokers"},
		{"no admin token", with("secrets", map[string]any{"redisURL": "redis://r:6379/0"}), "secrets.adminTokens"},
		{"no Redis", with("secrets", map[string]any{"adminTokens": []any{token}}), "secrets.redisURL"},
		{"more replicas than partitions", with("replicas", 8, "inputPartitions", 6), "replicas: 8 exceeds inputPartitions (6)"},
		{"KEDA beyond the partitions", with("keda.enabled", true, "keda.maxReplicaCount", 12), "keda.maxReplicaCount: 12 exceeds inputPartitions (6)"},
		{"KEDA minimum above maximum", with("keda.enabled", true, "keda.minReplicaCount", 5, "keda.maxReplicaCount", 4), "keda.minReplicaCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, tt.vals)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
