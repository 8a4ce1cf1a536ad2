package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/subscription"
)

// proc is a running hookstream process.
type proc struct {
	cmd     *exec.Cmd
	admin   string
	gateway string // its gateway's address, when it serves one
	done    chan error
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startHookstream runs the binary with a generated config and waits until
// its admin API answers.
func (b *bench) startHookstream(name, topic, group string) (*proc, error) {
	admin, gw := freeAddr(), ""
	extra := ""
	if b.gateway {
		gw = freeAddr()
		extra = "gateway:\n  addr: " + gw + "\n"
	}
	if b.format != "" {
		extra += "events:\n  format: " + b.format + "\n"
	}
	if b.tracing != "" {
		extra += "tracing:\n  endpoint: " + b.tracing + "\n"
	}
	cfg := fmt.Sprintf(`log: {level: warn, format: json}
kafka:
  brokers: [%s]
  group: %s
  topic_prefix: %s
  input_topics: [%s]
retry:
  rungs: [1s, 2s, 4s, 8s]
delivery:
  allow_networks: [127.0.0.0/8]
redis:
  url: %s
  key_prefix: %s
admin:
  addr: %s
  pprof: %t
%s`, strings.Join(b.brokers, ", "), group, group, topic, b.redisURL, group, admin, b.profile != "" || b.pprof, extra)
	path := filepath.Join(b.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := child(exec.Command(b.bin, "run", "--config", path))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, admin: admin, gateway: gw, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + admin + "/healthz"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s exited: %v (log %s)", name, err, logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s not ready after a minute", name)
}

// cpuProfile saves a CPU profile of the next d to path, in the background.
func (p *proc) cpuProfile(path string, d time.Duration) {
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.admin, int(d.Seconds())))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(path, b, 0o644)
	}()
}

// heapProfile saves a heap profile to path.
func (p *proc) heapProfile(path string) {
	resp, err := http.Get("http://" + p.admin + "/debug/pprof/heap")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, b, 0o644)
}

// liveHeap is the process's heap in use right after a garbage
// collection, read from its profiler (pprof must be on).
func (p *proc) liveHeap() (int64, error) {
	resp, err := http.Get("http://" + p.admin + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapInuse = "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no HeapInuse in the heap profile of %s", p.admin)
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// usage reads the process's CPU seconds and peak resident memory.
func (p *proc) usage() (cpu float64, peakRSS int64) {
	pid := strconv.Itoa(p.cmd.Process.Pid)
	if b, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
		// Fields after the command name, which may hold spaces.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpu = (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	return cpu, p.status("VmHWM")
}

// rss returns the process's resident memory now.
func (p *proc) rss() int64 { return p.status("VmRSS") }

// status reads a size in bytes from the process's /proc status.
func (p *proc) status(field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// metric reads one counter from the process's /metrics.
func (p *proc) metric(name string) float64 {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			total += v
		}
	}
	return total
}

func (b *bench) createTopic(topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	return err
}

// produce writes values to topic, perSecond a second (0: as fast as the
// broker takes them); value(i) builds the i-th.
func (b *bench) produce(topic string, n, perSecond int, value func(i int) []byte) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(100000))
	if err != nil {
		return err
	}
	defer cl.Close()
	start := time.Now()
	errc := make(chan error, 1)
	for i := range n {
		if perSecond > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))); wait > 0 {
				time.Sleep(wait)
			}
		}
		cl.Produce(context.Background(), &kgo.Record{Value: value(i), Headers: b.headers}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// subscribe stores subscriptions straight in Redis, before hookstream
// starts, so that it matches from its first event.
func (b *bench) subscribe(prefix string, subs ...subscription.Subscription) error {
	opts, err := redis.ParseURL(b.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	store := subscription.NewStore(rdb, prefix)
	for _, s := range subs {
		if s.Secret == "" {
			s.Secret = benchSecret
		}
		s.Enabled, s.MaxAttempts = true, 5
		if s.Timeout == 0 {
			s.Timeout = subscription.Duration(10 * time.Second)
		}
		if _, err := subscription.Compile(s); err != nil {
			return err
		}
		if err := store.Create(context.Background(), s); err != nil {
			return err
		}
	}
	return nil
}

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
