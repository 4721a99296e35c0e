package loadgen

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFloorAnswersAsAGateway serves a floor with each router and checks
// what a produce run needs of it: the topic "exists", a produce is
// answered with the fixed answer, anything else is refused, and the
// server stops when its context ends.
func TestFloorAnswersAsAGateway(t *testing.T) {
	for _, r := range []Router{BareRouter, FiberRouter} {
		t.Run(string(r), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- ServeFloor(ctx, ln, r) }()
			base := "http://" + ln.Addr().String()
			client := &http.Client{Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()

			post := func(path, body string) (int, string, string) {
				t.Helper()
				resp, err := client.Post(base+path, "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
			}
			if code, _, _ := post("/v1/topics", `{"name":"bench","partitions":4}`); code != http.StatusConflict {
				t.Errorf("create topic: %d, want 409", code)
			}
			code, ct, body := post("/v1/topics/bench/events?acks=all", `{"value":"x"}`)
			if code != http.StatusOK || ct != "application/json" || body != string(floorAnswer) {
				t.Errorf("produce: %d %q %q, want 200 application/json %q", code, ct, body, floorAnswer)
			}
			if code, _, _ := post("/v1/elsewhere", ""); code == http.StatusOK {
				t.Errorf("POST /v1/elsewhere: 200, want a refusal")
			}
			resp, err := client.Get(base + "/v1/topics/bench/events")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Errorf("GET of the events: 200, want a refusal")
			}

			// A produce load against it: every request answered.
			rep, err := Produce(context.Background(), Target{URL: base, Token: "x", Topic: "bench"},
				ProduceOptions{EventsPerRequest: 1, EventBytes: 100, Concurrency: 4, Duration: 300 * time.Millisecond, Acks: "all", Client: NetHTTP})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests == 0 || rep.Failures != 0 {
				t.Errorf("produce load: %d requests, %d failed (%s)", rep.Requests, rep.Failures, rep.FirstFailure)
			}

			client.CloseIdleConnections()
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("ServeFloor: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ServeFloor did not return after its context ended")
			}
			if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
				t.Error("the floor still accepts connections after it stopped")
			}
		})
	}
}

func TestParseRouter(t *testing.T) {
	for _, s := range []string{"fasthttp", "fiber"} {
		if r, err := ParseRouter(s); err != nil || string(r) != s {
			t.Errorf("ParseRouter(%q) = %q, %v", s, r, err)
		}
	}
	if _, err := ParseRouter("gin"); err == nil || !bytes.Contains([]byte(err.Error()), []byte("want fasthttp or fiber")) {
		t.Errorf("ParseRouter(gin): %v, want a refusal naming the routers", err)
	}
}
