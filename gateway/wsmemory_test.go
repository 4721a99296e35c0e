package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// Environment of the client process of TestIdleWebSocketMemory.
const (
	idleClientsEnv = "RUNNEL_TEST_IDLE_WS_CLIENTS" // "<socket count> <ws URL with token>"
	idleSocketsEnv = "RUNNEL_TEST_IDLE_WS_SOCKETS" // socket count for the parent; default idleSockets
)

// idleSockets is how many sockets TestIdleWebSocketMemory opens unless
// RUNNEL_TEST_IDLE_WS_SOCKETS says otherwise (the figure is for
// 10,000; 2,000 keep the test within seconds and the figure steady).
const idleSockets = 2000

// maxIdleSocketBytes bounds what one idle socket with one subscription may
// cost the gateway: heap and goroutine stacks in use. The target is 10 KiB
// (about 9 KiB measured); the bound leaves headroom for noise. The race
// detector doubles the reader's stack and grows the heap (about 13 KiB
// measured), so it gets a bound of its own, still well below one more
// goroutine or net/http's buffers per socket (46 KiB before they went).
const (
	maxIdleSocketBytes     = 12 << 10
	maxIdleSocketBytesRace = 20 << 10
)

// TestIdleWebSocketMemory opens many authenticated sockets, each with one
// subscription to a one-partition topic, from a client process of their
// own, and measures what they cost the gateway's process: heap and stacks
// in use after a garbage collection (and its resident set, reported only).
// The clients live in another process so that only the server's side is
// counted.
func TestIdleWebSocketMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of sockets")
	}
	n := idleSockets
	if s := os.Getenv(idleSocketsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a socket count", idleSocketsEnv, s)
		}
		n = v
	}
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("idle", 1, nil)
	g := startGateway(t, c)
	url := "ws://" + g.Addr().String() + "/v1/ws?access_token=" + adminToken(t)

	// Warm up: the partition's shared reader, pools and caches exist
	// before the baseline, so that only the sockets' own cost is counted.
	warm := openIdleClients(t, url, 20)
	before := idleMemory()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleWebSocketClients$", "-test.v")
	cmd.Env = append(os.Environ(), idleClientsEnv+"="+strconv.Itoa(n)+" "+url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close() // the clients exit on EOF
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var out strings.Builder
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if sc.Text() == "ready" {
				ready <- ""
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
		ready <- out.String()
	}()
	select {
	case out := <-ready:
		if out != "" {
			t.Fatalf("the client process ended before its sockets were ready:\n%s%s", out, stderr.String())
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("%d sockets not subscribed after 5 minutes", n)
	}
	t.Logf("%d sockets opened and subscribed in %v", n, time.Since(start).Round(time.Millisecond))
	after := idleMemory()

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	heap, stack := per(after.heap, before.heap), per(after.stack, before.stack)
	t.Logf("per idle socket: %.0f B heap + %.0f B stack = %.2f KiB; %.2f goroutines; RSS %+.2f KiB (process RSS %d MiB → %d MiB)",
		heap, stack, (heap+stack)/1024, per(after.goroutines, before.goroutines),
		per(after.rss, before.rss)/1024, before.rss>>20, after.rss>>20)
	bound := maxIdleSocketBytes
	if raceDetector {
		bound = maxIdleSocketBytesRace
	}
	if heap+stack > float64(bound) {
		t.Errorf("an idle socket costs %.0f bytes of heap and stack, more than the bound of %d", heap+stack, bound)
	}
	for _, ws := range warm {
		ws.Close()
	}
}

// idleMemoryStats is what TestIdleWebSocketMemory compares.
type idleMemoryStats struct {
	heap, stack, rss, goroutines uint64
}

// idleMemory collects the garbage, returns what it can to the OS and
// reads the process's memory.
func idleMemory() idleMemoryStats {
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := idleMemoryStats{heap: ms.HeapInuse, stack: ms.StackInuse, goroutines: uint64(runtime.NumGoroutine())}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				st.rss = kb << 10
			}
		}
	}
	return st
}

// TestIdleWebSocketClients is the client process of
// TestIdleWebSocketMemory; it does nothing unless started by it. It opens
// the sockets, subscribes each to topic "idle", prints "ready" and holds
// them until its stdin closes.
func TestIdleWebSocketClients(t *testing.T) {
	spec := os.Getenv(idleClientsEnv)
	if spec == "" {
		t.Skip("the client process of TestIdleWebSocketMemory")
	}
	ns, url, ok := strings.Cut(spec, " ")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil {
		t.Fatalf("%s=%q", idleClientsEnv, spec)
	}
	conns := openIdleClients(t, url, n)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// openIdleClients opens n sockets to url, each subscribed to topic "idle"
// from the latest offset, and returns them once every one has its
// subscribed frame.
func openIdleClients(t testing.TB, url string, n int) []*websocket.Conn {
	t.Helper()
	openapitest.CheckClientFrame(t, []byte(idleSubscribe))
	dialer := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := openIdleClient(dialer, url)
				if err != nil {
					errs <- fmt.Errorf("socket %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return conns
}

// idleSubscribe is the frame each idle socket sends.
const idleSubscribe = `{"type":"subscribe","id":"s","topic":"idle"}`

func openIdleClient(dialer *websocket.Dialer, url string) (*websocket.Conn, error) {
	c, _, err := dialer.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(idleSubscribe)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, data, err := c.ReadMessage()
	if err == nil {
		err = openapitest.ServerFrameError(data)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	var f struct{ Type string }
	if json.Unmarshal(data, &f) != nil || f.Type != "subscribed" {
		c.Close()
		return nil, fmt.Errorf("got %s, want a subscribed frame", data)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}
