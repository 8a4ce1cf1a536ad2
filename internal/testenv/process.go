package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Binary builds the main package at pkg (a path as go build takes it,
// relative to the test's package) once per test binary and returns the
// executable's path. race builds it with the race detector; tags are
// its build tags. Main removes it once the package's tests end.
func Binary(t testing.TB, pkg string, race bool, tags ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := fmt.Sprint(pkg, race, tags)
	if path, ok := built[key]; ok {
		return path
	}
	dir, err := os.MkdirTemp("", "hookstream-bin-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bin")
	args := []string{"build", "-o", path}
	if race {
		args = append(args, "-race")
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[key] = path
	return path
}

// removeBinaries removes what Binary built: tens of MB each, left in the
// temporary directory after every run otherwise.
func removeBinaries() {
	buildMu.Lock()
	defer buildMu.Unlock()
	for key, path := range built {
		_ = os.RemoveAll(filepath.Dir(path))
		delete(built, key)
	}
}

// FreeAddr returns a loopback address nothing listens on (at the
// moment). Where the kernel says which ports it gives outgoing
// connections, the port is one below them: a port from that range can
// be taken as the local port of any connection made before the address
// is bound, or while a process that had it restarts ("address already
// in use").
func FreeAddr(t testing.TB) string {
	t.Helper()
	if lo := outgoingPortsStart(); lo > freeLow {
		for range 100 {
			addr := fmt.Sprintf("127.0.0.1:%d", freeLow+rand.IntN(min(lo, freeHigh)-freeLow))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreeAddr's ports: below those .ci/run takes for its broker and Redis
// (from 20000).
const freeLow, freeHigh = 10000, 20000

// outgoingPortsStart is the first port of the kernel's range for
// outgoing connections, or 0 where it cannot be read.
func outgoingPortsStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	lo, _ := strconv.Atoi(fields[0])
	return lo
}

// SlowClients opens n connections to addr that each declare a 200 KB
// request body and send one byte of it, as a client holding a listener's
// connections would.
func SlowClients(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := fmt.Fprint(c, "POST /v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}
