package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// devProc is a "runnel dev" process started by a test.
type devProc struct {
	brokerProc
	url, token string
	banner     string // what it printed up to the token
}

var (
	devURLLine   = regexp.MustCompile(`HTTP \+ WebSocket: (https?://\S+)`)
	devTokenLine = regexp.MustCompile(`Admin token: +(\S+)`)
)

// startDev runs the test binary as "runnel dev" on free ports and waits
// until it prints its URL and token and /readyz answers 200. extra flags
// come last (so "--log-level", "info" overrides the default warn).
func startDev(t *testing.T, dataDir string, extra ...string) *devProc {
	t.Helper()
	p := launchDev(t, dataDir, extra...)
	p.waitReady(p.url)
	return p
}

// launchDev runs the test binary as "runnel dev" on free ports and waits
// until it prints its URL and token (not for readiness).
func launchDev(t *testing.T, dataDir string, extra ...string) *devProc {
	t.Helper()
	kafka := freePort(t)
	p := &devProc{brokerProc: brokerProc{t: t, kafka: kafka, args: append([]string{
		"dev", "--data-dir", dataDir, "--kafka", kafka, "--http", freePort(t), "--log-level", "warn",
	}, extra...)}}
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(os.Environ(), modeEnv+"=runnel")
	p.stderr = &bytes.Buffer{}
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	p.done = make(chan struct{})
	// One goroutine reads stdout to its end (so the process never blocks
	// on a full pipe), handing over the banner's URL and token.
	banner := make(chan [3]string, 1)
	go func(cmd *exec.Cmd, done chan struct{}) {
		var url, token string
		var text strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if token == "" {
				text.WriteString(sc.Text() + "\n")
			}
			if m := devURLLine.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if m := devTokenLine.FindStringSubmatch(sc.Text()); m != nil {
				token = m[1]
				banner <- [3]string{url, token, text.String()}
			}
		}
		cmd.Wait()
		close(done)
	}(p.cmd, p.done)
	select {
	case b := <-banner:
		p.url, p.token, p.banner = b[0], b[1], b[2]
	case <-p.done:
		t.Fatalf("runnel dev exited: %s", p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("runnel dev printed no URL and token: %s", p.stderr.String())
	}
	if p.url == "" {
		t.Fatalf("runnel dev printed a token but no URL")
	}
	return p
}

// do sends a JSON request with the admin token and decodes a JSON answer.
func (p *devProc) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", data, err)
		}
	}
	return resp.StatusCode, nil
}

// TestDevKilledUnderProduceLoad SIGKILLs "runnel dev" three times while
// clients POST events with acks=all. After the last restart every event
// acknowledged with 200 is in the topic exactly once.
func TestDevKilledUnderProduceLoad(t *testing.T) {
	dir := t.TempDir()
	dev := startDev(t, dir)
	ctx := context.Background()
	const topic, partitions = "load", 3
	if code, err := dev.do(ctx, "POST", "/v1/topics", map[string]any{"name": topic, "partitions": partitions, "replication_factor": 1}, nil); err != nil || code != 201 {
		t.Fatalf("create topic: %d %v", code, err)
	}

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  int
	)
	for round := range 3 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					next++
					id := fmt.Sprintf("r%d-w%d-%d", round, w, next)
					mu.Unlock()
					events := make([]map[string]any, 5)
					for j := range events {
						events[j] = map[string]any{"key": fmt.Sprintf("%s-%d", id, j), "value": map[string]any{"id": fmt.Sprintf("%s-%d", id, j)}}
					}
					rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					code, err := dev.do(rctx, "POST", "/v1/topics/"+topic+"/events", map[string]any{"events": events}, nil)
					cancel()
					if err == nil && code == 200 {
						mu.Lock()
						for _, e := range events {
							acked[e["key"].(string)] = true
						}
						mu.Unlock()
					}
				}
			}()
		}
		testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < (round+1)*500 {
				return fmt.Errorf("%d acked so far", len(acked))
			}
			return nil
		})
		dev.kill()
		close(stop)
		wg.Wait()
		dev = startDev(t, dir)
	}

	// Read everything back through the restarted gateway.
	seen := map[string]int{}
	for p := range partitions {
		offset := int64(0)
		for {
			var page struct {
				Events []struct {
					Key string `json:"key"`
				} `json:"events"`
				NextOffset    int64 `json:"next_offset"`
				HighWatermark int64 `json:"high_watermark"`
			}
			// Right after a restart the partition may still be
			// without a leader: 503, retried as its Retry-After says.
			testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
				code, err := dev.do(ctx, "GET", fmt.Sprintf("/v1/topics/%s/partitions/%d/events?offset=%d&limit=1000", topic, p, offset), nil, &page)
				if err != nil || code != 200 {
					return fmt.Errorf("fetch partition %d at %d: %d %v", p, offset, code, err)
				}
				return nil
			})
			for _, e := range page.Events {
				seen[e.Key]++
			}
			offset = page.NextOffset
			if offset >= page.HighWatermark {
				break
			}
		}
	}
	missing, dups := 0, 0
	for k := range acked {
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	t.Logf("%d events acknowledged, %d stored", len(acked), len(seen))
	if missing > 0 || dups > 0 {
		t.Fatalf("of %d acknowledged events, %d are missing and %d stored more than once", len(acked), missing, dups)
	}
	dev.kill() // and wait for it, so that its stderr is complete and ours to read
	if strings.Contains(dev.stderr.String(), "panic") {
		t.Fatalf("panic in runnel dev: %s", dev.stderr.String())
	}
}
