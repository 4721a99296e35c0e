package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// gatewayProc is a "runnel gateway" process started by a test.
type gatewayProc struct {
	brokerProc
	url string
}

// startGatewayProc runs the test binary as "runnel gateway" in front of the
// broker at kafka and waits until /readyz answers 200. It is killed at the
// end of the test.
func startGatewayProc(t testing.TB, kafka, secret string, args ...string) *gatewayProc {
	t.Helper()
	addr := freePort(t)
	p := &gatewayProc{url: "http://" + addr}
	p.t = t
	p.args = append([]string{"gateway", "--http", addr, "--brokers", kafka, "--log-level", "warn"}, args...)
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(os.Environ(), modeEnv+"=runnel", "RUNNEL_JWT_SECRET="+secret)
	p.stderr = &bytes.Buffer{}
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(p.cmd, p.done)
	t.Cleanup(p.kill)
	p.waitReady(p.url)
	return p
}

// waitReady waits until the process's /readyz at url answers 200, failing
// the test if the process exits first.
func (p *brokerProc) waitReady(url string) {
	p.t.Helper()
	testwait.For(p.t, 30*time.Second, 50*time.Millisecond, func() error {
		select {
		case <-p.done:
			p.t.Fatalf("%s exited: %s", p.args[0], p.stderr.String())
		default:
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	})
}

// call sends a request with a JSON body (when body is not empty), token
// and, when idem is set, an Idempotency-Key, and returns the answer's status
// and body; status 0 and the error's text when there is no answer.
func (p *gatewayProc) call(token, method, path, idem, body string) (int, string) {
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mint signs a token with an HS256 secret, valid for an hour.
func mint(t testing.TB, secret string, o auth.MintOptions) string {
	t.Helper()
	m, err := auth.NewSecretMinter([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	o.TTL = time.Hour
	tok, err := m.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rssAnon is the process's resident anonymous memory (its heap and stacks,
// not mapped files) from /proc.
func rssAnon(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("read the gateway's memory: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("RssAnon %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no RssAnon in /proc/%d/status", pid)
	return 0
}

// slowPost is one hostile connection: a POST that announces a large body
// and then trickles it.
type slowPost struct {
	conn net.Conn
	dead bool
}

// TestGatewaySlowBodiesStayBounded attacks a real gateway process with
// 1,500 unauthenticated POSTs that announce a 1 MiB body and trickle it a
// byte at a time, beside 300 authenticated ones doing the same, and holds
// them open for several seconds. The gateway must not buffer bodies it
// has not admitted: its anonymous RSS grows by less than 300 MiB (before
// the fix every connection held a 1 MiB buffer: 1.8 GiB), every
// unauthenticated POST gets its 401 at once, without the body, every slow
// authenticated one is cut with 408 by the minimum transfer rate, and an
// ordinary produce is served meanwhile.
func TestGatewaySlowBodiesStayBounded(t *testing.T) {
	const (
		unauthenticated = 1500
		authenticated   = 300
		announced       = 1 << 20
		bound           = 300 << 20
	)
	secret := "gateway-attack-test-secret-0123456789abcdef"
	raft, kafka := freePort(t), freePort(t)
	startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", filepath.Join(t.TempDir(), "d"))
	gw := startGatewayProc(t, kafka, secret)
	admin := mint(t, secret, auth.MintOptions{Subject: "admin", Admin: true})
	forged := mint(t, strings.Repeat("x", 40), auth.MintOptions{Subject: "mallory", Admin: true})
	produce := func() (int, string) {
		return gw.call(admin, "POST", "/v1/topics/attack/events", "", `{"value":{"ok":true}}`)
	}
	if code, body := gw.call(admin, "POST", "/v1/topics", "", `{"name":"attack","partitions":1}`); code != 201 {
		t.Fatalf("create topic: %d %s", code, body)
	}
	for range 20 {
		if code, body := produce(); code != 200 {
			t.Fatalf("produce before the attack: %d %s", code, body)
		}
	}
	pid := gw.cmd.Process.Pid
	base := rssAnon(t, pid)

	addr := strings.TrimPrefix(gw.url, "http://")
	head := func(token string) string {
		h := "POST /v1/topics/attack/events HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(announced) + "\r\n"
		if token != "" {
			h += "Authorization: Bearer " + token + "\r\n"
		}
		return h + "\r\n" + `{"value":"`
	}
	heads := []string{head(""), head("not-a-jwt"), head(forged)}
	// The authenticated ones send their first 8 KiB at once, so that the
	// gateway starts reading their bodies (and the minimum rate applies).
	authHead := head(admin) + strings.Repeat("x", 8<<10)
	posts := make([]*slowPost, unauthenticated+authenticated)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dialErrs []error
	sem := make(chan struct{}, 64)
	for i := range posts {
		h := heads[i%len(heads)]
		if i >= unauthenticated {
			h = authHead
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, err = io.WriteString(c, h)
			}
			if err != nil {
				mu.Lock()
				dialErrs = append(dialErrs, err)
				mu.Unlock()
				if c != nil {
					c.Close()
				}
				return
			}
			posts[i] = &slowPost{conn: c}
		}()
	}
	wg.Wait()
	if len(dialErrs) > 0 {
		t.Fatalf("%d connections failed, first: %v", len(dialErrs), dialErrs[0])
	}
	defer func() {
		for _, p := range posts {
			p.conn.Close()
		}
	}()

	// Trickle a byte per connection every 250 ms for 8 s (the default
	// minimum rate cuts the authenticated ones after about 6 s), watching
	// the gateway's memory; an ordinary produce must be served meanwhile.
	peak := base
	served := make(chan string, 1)
	go func() {
		code, body := produce()
		served <- fmt.Sprintf("%d %s", code, body)
	}()
	start := time.Now()
	for time.Since(start) < 8*time.Second {
		for _, p := range posts {
			if p.dead {
				continue
			}
			p.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := p.conn.Write([]byte("x")); err != nil {
				p.dead = true // the gateway answered and closed it
			}
		}
		peak = max(peak, rssAnon(t, pid))
		time.Sleep(250 * time.Millisecond)
	}
	if got := <-served; !strings.HasPrefix(got, "200 ") {
		t.Errorf("produce during the attack: %s", got)
	}

	// Every hostile POST must have been answered by now: 401 for the
	// unauthenticated, 408 for the authenticated slow ones.
	deadline := time.Now().Add(5 * time.Second)
	answers := map[string]int{}
	for i, p := range posts {
		p.conn.SetReadDeadline(deadline)
		status, err := bufio.NewReader(p.conn).ReadString('\n')
		want := "HTTP/1.1 401"
		if i >= unauthenticated {
			want = "HTTP/1.1 408"
		}
		got := strings.TrimSpace(status)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			got = "no answer"
		case err != nil:
			got = "the connection ended without an answer"
		}
		if !strings.HasPrefix(got, want) {
			answers["want "+want+", got "+got]++
		}
	}
	for a, n := range answers {
		t.Errorf("%d connections: %s", n, a)
	}
	growth := peak - base
	t.Logf("gateway RssAnon: %d MiB before, peak %d MiB during %d slow POSTs (+%d MiB)",
		base>>20, peak>>20, len(posts), growth>>20)
	if growth > bound {
		t.Errorf("the gateway grew by %d MiB under slow POSTs; the bound is %d MiB", growth>>20, bound>>20)
	}
	for _, p := range posts {
		p.conn.Close()
	}
	if code, body := produce(); code != 200 {
		t.Errorf("produce after the attack: %d %s", code, body)
	}
}

// TestGatewayBodyFlags: the body limits' flags reach the gateway's config,
// whose checks refuse what cannot work.
func TestGatewayBodyFlags(t *testing.T) {
	secret := []string{"RUNNEL_JWT_SECRET=" + strings.Repeat("s", 40)}
	base := []string{"gateway", "--brokers", "127.0.0.1:1", "--http", "127.0.0.1:0"}
	wantUsageError(t, runnel(t, secret, append(base, "--max-body-bytes-in-flight", "1000")...),
		"MaxBodyBytesInFlight 1000 is less than MaxBodyBytes 1048576")
	wantUsageError(t, runnel(t, secret, append(base, "--min-body-rate", "-1")...), "MinBodyRate -1 is negative")
	wantUsageError(t, runnel(t, secret, append(base, "--head-timeout", "-1s")...), "HeadTimeout -1s is negative")
	wantUsageError(t, runnel(t, secret, append(base, "--body-timeout", "-1s")...), "ReadTimeout -1s is negative")
	wantUsageError(t, runnel(t, secret, append(base, "--body-rate-grace", "-1s")...), "BodyRateGrace -1s is negative")
}
