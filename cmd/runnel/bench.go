package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/gateway/loadgen"
)

// benchTarget are the flags every "runnel bench" command shares.
type benchTarget struct {
	t          loadgen.Target
	partitions int
}

func (b *benchTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&b.t.URL, "url", "http://127.0.0.1:8080", "gateway base `URL`")
	fs.StringVar(&b.t.Token, "token", "", "JWT allowed to produce to and consume from the topic, and to create it (admin) when it is missing")
	fs.StringVar(&b.t.Topic, "topic", "bench", "`topic` to load; created when missing")
	fs.IntVar(&b.partitions, "partitions", 4, "partitions of the topic when it is created")
	fs.IntVar(&b.t.ServerPID, "server-pid", 0, "`PID` of the gateway process, to report its CPU time (0: not measured)")
}

// prepare checks the flags and creates the topic when it does not exist.
func (b *benchTarget) prepare(ctx context.Context) error {
	if b.t.Token == "" {
		return usagef("--token is required (mint one with: runnel token --secret ... --admin)")
	}
	if b.partitions < 1 {
		return usagef("--partitions must be at least 1")
	}
	body, _ := json.Marshal(map[string]any{"name": b.t.Topic, "partitions": b.partitions, "replication_factor": 1})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(b.t.URL, "/")+"/v1/topics", bytes.NewReader(body))
	if err != nil {
		return usagef("--url %q: %v", b.t.URL, err)
	}
	req.Header.Set("Authorization", "Bearer "+b.t.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the gateway at %s: %w", b.t.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusConflict:
		return nil
	case http.StatusForbidden:
		// Not an admin: the topic must already exist, which the run
		// itself will tell.
		return nil
	default:
		return fmt.Errorf("create topic %q: HTTP %d: %s", b.t.Topic, resp.StatusCode, bytes.TrimSpace(msg))
	}
}

func (b *benchTarget) String() string {
	u, _ := url.Parse(b.t.URL)
	return fmt.Sprintf("gateway %s, topic %s", u.Host, b.t.Topic)
}

// benchCommand is "runnel bench": load tools for a running gateway.
func benchCommand() *command {
	return &command{
		name:    "bench",
		summary: "measure a running gateway",
		help: `Load a running gateway through its public API and report rates, latencies and
CPU. Start one with "runnel dev" and pass the admin token it prints; pass
--server-pid to include the gateway's CPU time.`,
		subs: []*command{benchProduceCommand(), benchLatencyCommand(), benchFanoutCommand(), benchFloorCommand()},
	}
}

func registerProduce(fs *flag.FlagSet, o *loadgen.ProduceOptions) {
	fs.IntVar(&o.EventsPerRequest, "events-per-request", 100, "events in each POST (1 sends a single event object)")
	fs.IntVar(&o.EventBytes, "event-bytes", 100, "approximate size of each event's value")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "`workers`, each with one request in flight at a time on its own keep-alive connection")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to publish")
	fs.StringVar(&o.Acks, "acks", "1", "acks of each POST: 0, 1 or all")
	registerClient(fs, &o.Client)
}

// registerClient adds --client, the HTTP client that publishes.
func registerClient(fs *flag.FlagSet, c *loadgen.Client) {
	*c = loadgen.FastHTTP
	fs.Func("client", "HTTP `client` that publishes: fasthttp (little CPU, so it takes less from a gateway on the same machine) "+
		"or nethttp (Go's net/http with keep-alive connections, as most services publish) (default fasthttp)",
		func(s string) (err error) {
			*c, err = loadgen.ParseClient(s)
			return err
		})
}

func benchProduceCommand() *command {
	var bt benchTarget
	var o loadgen.ProduceOptions
	return &command{
		name:    "produce",
		summary: "HTTP produce throughput",
		help: `POST events in a closed loop: each of --concurrency workers sends its next
request when the previous one was answered. Report requests/s, events/s, the
request latency distribution and, with --server-pid, the gateway's CPU in
cores and per request.

The shape most services have, one event per POST from Go's net/http:
  runnel bench produce --client nethttp --events-per-request 1 --concurrency 16`,
		flags: func(fs *flag.FlagSet) {
			bt.register(fs)
			registerProduce(fs, &o)
		},
		run: func(ctx context.Context, inv *invocation) error {
			if err := bt.prepare(ctx); err != nil {
				return err
			}
			r, err := loadgen.Produce(ctx, bt.t, o)
			if err != nil {
				return usagef("%v", err)
			}
			_, err = fmt.Fprintf(inv.stdout, "produce (%s, %s, %d events/request, %d B, concurrency %d, acks=%s): %v\n",
				bt.String(), o.Client, o.EventsPerRequest, o.EventBytes, o.Concurrency, o.Acks, r)
			return err
		},
	}
}

func benchLatencyCommand() *command {
	var bt benchTarget
	var o loadgen.LatencyOptions
	return &command{
		name:    "latency",
		summary: "POST-to-WebSocket latency at a fixed rate",
		help: `Subscribe --subscribers WebSocket clients to the topic, publish --rate
single-event POSTs per second, and report the POST-to-WebSocket latency
distribution over all deliveries and any event a subscriber never received;
with --server-pid also the gateway's CPU in cores and per published event.

Each event is due at its own time (start + n/rate) and sent then by one of
--in-flight workers; a pacing thread wakes within tens of microseconds of
each (Go's timers would send bursts every millisecond). The report says how
late after their times the POSTs began.

The low-rate shape, one subscriber:
  runnel bench latency --subscribers 1 --rate 2000 --server-pid PID ...`,
		flags: func(fs *flag.FlagSet) {
			bt.register(fs)
			fs.IntVar(&o.Subscribers, "subscribers", 100, "WebSocket subscribers")
			fs.IntVar(&o.Rate, "rate", 5000, "events published per second")
			fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to publish")
			fs.StringVar(&o.Acks, "acks", "1", "acks of each POST: 0, 1 or all")
			fs.IntVar(&o.InFlight, "in-flight", 64, "most POSTs in flight at once")
			registerClient(fs, &o.Client)
		},
		run: func(ctx context.Context, inv *invocation) error {
			if err := bt.prepare(ctx); err != nil {
				return err
			}
			r, err := loadgen.Latency(ctx, bt.t, o)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(inv.stdout, "latency (%s, %s, %d subscribers, %d events/s, acks=%s): %v\n",
				bt.String(), o.Client, o.Subscribers, o.Rate, o.Acks, r); err != nil {
				return err
			}
			if r.Lost > 0 || r.Duplicates > 0 {
				return fmt.Errorf("%d deliveries lost, %d duplicated", r.Lost, r.Duplicates)
			}
			return nil
		},
	}
}

func benchFanoutCommand() *command {
	var bt benchTarget
	var o loadgen.FanoutOptions
	return &command{
		name:    "fanout",
		summary: "delivered events/s to many subscribers",
		help: `Subscribe --subscribers WebSocket clients to the topic, publish as fast as the
produce flags allow, and report the events delivered per second over all
subscribers and the gateway's CPU.`,
		flags: func(fs *flag.FlagSet) {
			bt.register(fs)
			fs.IntVar(&o.Subscribers, "subscribers", 100, "WebSocket subscribers")
			registerProduce(fs, &o.Publish)
		},
		run: func(ctx context.Context, inv *invocation) error {
			if err := bt.prepare(ctx); err != nil {
				return err
			}
			r, err := loadgen.Fanout(ctx, bt.t, o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(inv.stdout, "fanout (%s): %v\n", bt.String(), r)
			return err
		},
	}
}
