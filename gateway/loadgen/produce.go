package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the gateway under load.
type Target struct {
	// URL is the gateway's base URL, such as http://127.0.0.1:8080.
	URL string
	// Token is a JWT allowed to produce to and consume from the topic.
	Token string
	// Topic must exist.
	Topic string
	// ServerPID, when not 0, is the gateway's process, whose CPU time the
	// reports include (read from /proc). 0 measures this process, which is
	// right when the gateway runs in it.
	ServerPID int
}

func (t Target) validate() error {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("gateway URL %q: want http://host:port", t.URL)
	}
	if t.Topic == "" {
		return errors.New("no topic given")
	}
	return nil
}

func (t Target) eventsURL(acks string) string {
	return strings.TrimSuffix(t.URL, "/") + "/v1/topics/" + url.PathEscape(t.Topic) + "/events?acks=" + acks
}

// ProduceOptions shape a produce load.
type ProduceOptions struct {
	// EventsPerRequest is the events in each POST: 1 sends one event
	// object, more send {"events": [...]}.
	EventsPerRequest int
	// EventBytes is the approximate size of each event's value.
	EventBytes int
	// Concurrency is the number of requests in flight.
	Concurrency int
	// Duration of the run.
	Duration time.Duration
	// Acks is "0", "1" or "all".
	Acks string
	// Client is the HTTP client that posts; FastHTTP when empty.
	Client Client
}

// ProduceReport is the outcome of a produce load.
type ProduceReport struct {
	Requests, Events, Failures int64
	// FirstFailure describes the first failed request, if any.
	FirstFailure string
	Elapsed      time.Duration
	Latency      Quantiles
	// ServerCPU is the CPU time the gateway process used (see
	// Target.ServerPID); LoadCPU is this process's, when they differ.
	ServerCPU, LoadCPU time.Duration
}

// EventsPerSecond is the produce rate.
func (r ProduceReport) EventsPerSecond() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// RequestsPerSecond is the request rate.
func (r ProduceReport) RequestsPerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CPUPerRequest is the gateway's CPU time per successful request, in
// microseconds; 0 when it was not measured.
func (r ProduceReport) CPUPerRequest() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.ServerCPU.Nanoseconds()) / 1e3 / float64(r.Requests)
}

func (r ProduceReport) String() string {
	s := fmt.Sprintf("%d requests, %d events in %v: %.0f requests/s, %.0f events/s; latency %v; %d failed",
		r.Requests, r.Events, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond(), r.EventsPerSecond(), r.Latency, r.Failures)
	if r.FirstFailure != "" {
		s += " (first: " + r.FirstFailure + ")"
	}
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("; gateway CPU %.2f cores", r.ServerCPU.Seconds()/r.Elapsed.Seconds())
		if r.Requests > 0 {
			s += fmt.Sprintf(" (%.1f µs/request", r.CPUPerRequest())
			if r.Events != r.Requests {
				s += fmt.Sprintf(", %.2f µs/event", float64(r.ServerCPU.Nanoseconds())/1e3/float64(r.Events))
			}
			s += ")"
		}
	}
	if r.LoadCPU > 0 {
		s += fmt.Sprintf("; load tool CPU %.2f cores", r.LoadCPU.Seconds()/r.Elapsed.Seconds())
	}
	return s
}

func (o *ProduceOptions) fill() error {
	if o.EventsPerRequest <= 0 {
		o.EventsPerRequest = 1
	}
	if o.EventBytes <= 0 {
		o.EventBytes = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if err := fillAcks(&o.Acks); err != nil {
		return err
	}
	return o.Client.fill()
}

// fillAcks sets an empty acks to "1" and refuses anything but 0, 1, all.
func fillAcks(acks *string) error {
	switch *acks {
	case "":
		*acks = "1"
	case "0", "1", "all":
	default:
		return fmt.Errorf("acks %q: want 0, 1 or all", *acks)
	}
	return nil
}

// produceBody builds a request body of n events whose values are JSON
// strings of about size bytes.
func produceBody(n, size int) []byte {
	value := `"` + strings.Repeat("x", max(size-2, 0)) + `"`
	ev := func(i int) string { return `{"key":"k` + strconv.Itoa(i) + `","value":` + value + `}` }
	if n == 1 {
		return []byte(ev(0))
	}
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ev(i))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// Produce POSTs events as fast as opts.Concurrency requests in flight allow,
// for opts.Duration, and reports the rate: a closed loop, each of
// opts.Concurrency workers sending its next request when the previous one
// was answered. A request counts as done when the
// gateway answers 200 (202 with acks=0).
func Produce(ctx context.Context, t Target, opts ProduceOptions) (ProduceReport, error) {
	if err := t.validate(); err != nil {
		return ProduceReport{}, err
	}
	if err := opts.fill(); err != nil {
		return ProduceReport{}, err
	}
	body := produceBody(opts.EventsPerRequest, opts.EventBytes)
	pool := newClientPool(opts.Client, opts.Concurrency)
	defer pool.close()

	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var (
		requests, failures atomic.Int64
		first              firstFailure
		lat                latencies
		wg                 sync.WaitGroup
	)
	server, self := startCPU(t.ServerPID), startCPU(0)
	start := time.Now()
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pool.poster(t, opts.Acks)
			defer p.release()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				err := p.post(body)
				if err == nil {
					mine = append(mine, time.Since(t0))
					requests.Add(1)
					continue
				}
				failures.Add(1)
				first.note(err)
				if isTransportError(err) {
					// Do not spin on a dead server.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			lat.addAll(mine)
		}()
	}
	wg.Wait()
	r := ProduceReport{
		Requests: requests.Load(), Failures: failures.Load(), FirstFailure: first.text,
		Elapsed: time.Since(start), Latency: lat.quantiles(), ServerCPU: server.used(),
	}
	if t.ServerPID != 0 {
		r.LoadCPU = self.used()
	}
	r.Events = r.Requests * int64(opts.EventsPerRequest)
	return r, nil
}
