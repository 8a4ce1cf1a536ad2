// Command hookstream-bench measures hookstream end to end on one machine:
// it runs a broker (kfake in process, or --brokers), Redis, a fast webhook
// receiver and the real hookstream binary as a separate process, and in
// the same run the raw ceiling: a plain Go client posting the same bodies
// to the same receiver with the same concurrency, in process and as a
// process of its own, and fasthttp's client, which hookstream's plain-HTTP
// deliveries go through, as a process of its own.
//
//	go run ./cmd/hookstream-bench --bin bin/hookstream --out bench.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

type bench struct {
	brokers  []string
	redisURL string
	bin      string
	dir      string
	redis    string // what Redis is, for the report
	profile  string // directory for CPU profiles, empty for none
	gateway  bool   // start hookstream with its gateway
	format   string // the input topic's events.format, empty for json
	tracing  string // tracing.endpoint, empty for none
	pprof    bool   // serve the profiler even without --profile
	// headers are given to every record produced.
	headers []kgo.RecordHeader
}

func main() {
	var (
		bin       = flag.String("bin", "bin/hookstream", "the hookstream binary to measure")
		brokers   = flag.String("brokers", "", "Kafka brokers (default: an in-process kfake broker)")
		redisURL  = flag.String("redis-url", "", "Redis (default: a redis-server on a free port, else in-process miniredis)")
		scenarios = flag.String("scenarios", "drain,formats,fanout,match,otlp,tracing,endpoints,steady,console,isolation,gateway,control", "scenarios to run")
		events    = flag.Int("events", 200000, "events of the drain and match-heavy scenarios")
		steadyFor = flag.Duration("steady-for", 30*time.Second, "duration of each steady-rate run")
		subs      = flag.Int("subscriptions", 100000, "subscriptions stored in the control scenario")
		out       = flag.String("out", "", "write the results as JSON here")
		profile   = flag.String("profile", "", "save a 3s CPU profile of hookstream in each scenario to this directory")
		client    = flag.String("client", "", "post the raw ceiling's requests to this URL and exit (the ceiling's client as a process of its own)")
		clientN   = flag.Int("client-n", 0, "requests the client posts")
		clientC   = flag.Int("client-conc", 128, "the client's concurrency")
		clientF   = flag.Bool("client-fasthttp", false, "the client is fasthttp's rather than net/http's")
	)
	flag.Parse()
	if *client != "" {
		postAll(*client, *clientN, *clientC, *clientF)
		return
	}
	dir, err := os.MkdirTemp("", "hookstream-bench-")
	check(err)
	defer os.RemoveAll(dir)
	b := &bench{bin: *bin, dir: dir, profile: *profile}

	if *brokers != "" {
		b.brokers = strings.Split(*brokers, ",")
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(6))
		check(err)
		defer c.Close()
		b.brokers = c.ListenAddrs()
	}
	switch {
	case *redisURL != "":
		b.redisURL, b.redis = *redisURL, "given Redis"
	default:
		url, stop, err := startRedisServer(dir)
		if err == nil {
			defer stop()
			b.redisURL, b.redis = url, "redis-server"
		} else {
			m := miniredis.NewMiniRedis()
			check(m.Start())
			defer m.Close()
			b.redisURL, b.redis = "redis://"+m.Addr()+"/0", "miniredis (no redis-server on PATH; Redis is off the hot path)"
		}
	}

	var rows []row
	for _, s := range strings.Split(*scenarios, ",") {
		fmt.Fprintf(os.Stderr, "running %s…\n", s)
		switch s {
		case "drain":
			rows = append(rows, b.drain(*events)...)
		case "formats":
			rows = append(rows, b.formats(*events/2)...)
		case "fanout":
			rows = append(rows, b.fanOut(*events/10)...)
		case "gateway":
			rows = append(rows, b.gatewayRun(*events/10)...)
		case "match":
			rows = append(rows, b.matchHeavy(*events))
		case "otlp":
			rows = append(rows, b.otlp(*events)...)
		case "endpoints":
			rows = append(rows, b.manyEndpoints(10000, *events/10)...)
		case "tracing":
			rows = append(rows, b.tracingCost(*events/2)...)
		case "steady":
			rows = append(rows, b.steady(5000, *steadyFor), b.steady(20000, *steadyFor))
		case "console":
			rows = append(rows, b.consoleCost(5000, 50, *steadyFor))
		case "isolation":
			rows = append(rows, b.isolation(*events/4))
		case "control":
			rows = append(rows, b.control(*subs)...)
		default:
			check(fmt.Errorf("unknown scenario %q", s))
		}
	}
	broker := "kfake (in process)"
	if *brokers != "" {
		broker = *brokers
	}
	fmt.Printf("hookstream-bench: %s, %d CPUs, %s/%s, broker %s, Redis %s, %s\n\n",
		time.Now().UTC().Format(time.DateOnly), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, broker, b.redis, runtime.Version())
	fmt.Println("| Scenario | Result | Target | Met | CPU s / 10k deliveries | Peak RSS |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		met := "yes"
		if !r.Met {
			met = "**no**"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %.0f MB |\n", r.Scenario, r.Result, r.Target, met, cpuPer10k(r), float64(r.PeakRSS)/(1<<20))
	}
	if *out != "" {
		js, err := json.MarshalIndent(map[string]any{"date": time.Now().UTC(), "cpus": runtime.NumCPU(), "broker": broker,
			"redis": b.redis, "go": runtime.Version(), "rows": rows}, "", "  ")
		check(err)
		check(os.WriteFile(*out, js, 0o644))
	}
}

func cpuPer10k(r row) string {
	if r.Deliveries == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", r.CPUSeconds/float64(r.Deliveries)*10000)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookstream-bench:", err)
		os.Exit(1)
	}
}

func startRedisServer(dir string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	addr := freeAddr()
	_, port, _ := net.SplitHostPort(addr)
	cmd := child(exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr + "/0", stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("redis-server did not start")
}
