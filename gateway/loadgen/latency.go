package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyOptions shape an end-to-end latency run.
type LatencyOptions struct {
	// Subscribers is the number of WebSocket clients, each subscribed to
	// every partition of the topic.
	Subscribers int
	// Rate is the events published per second, one event per POST.
	Rate int
	// Duration of publishing.
	Duration time.Duration
	// Acks for the POSTs: "0", "1" or "all".
	Acks string
	// InFlight is the most POSTs in flight at once; an event due while
	// all are is sent late (and counted as late). Default 64.
	InFlight int
	// Client is the HTTP client that posts; FastHTTP when empty.
	Client Client
	// Drain is how long to wait after publishing for every subscriber to
	// receive everything. Default 10 s.
	Drain time.Duration
}

// LatencyReport is the outcome of a latency run.
type LatencyReport struct {
	Published, PublishFailures int64
	// Expected is Published × subscribers; Received what arrived; Lost
	// the published events some subscriber never got; Duplicates those
	// one got twice.
	Expected, Received, Lost, Duplicates int64
	Latency                              Quantiles
	// PublishLag is how long after its slot each POST began; Late
	// counts the POSTs that began more than a millisecond late, when the
	// publisher did not keep the rate (too few in flight, or no CPU).
	PublishLag Quantiles
	Late       int64
	// Publishing is how long the publisher took to send every event;
	// Elapsed also counts the wait for the last deliveries.
	Publishing, Elapsed time.Duration
	// ServerCPU is the gateway's CPU time over Elapsed (see
	// Target.ServerPID); LoadCPU this process's, when they differ.
	ServerCPU, LoadCPU time.Duration
	FirstFailure       string
}

// CPUPerEvent is the gateway's CPU time per published event, in
// microseconds; 0 when it was not measured.
func (r LatencyReport) CPUPerEvent() float64 {
	if r.Published == 0 {
		return 0
	}
	return float64(r.ServerCPU.Nanoseconds()) / 1e3 / float64(r.Published)
}

func (r LatencyReport) String() string {
	s := fmt.Sprintf("published %d (%d failed) at %.0f/s, delivered %d of %d (lost %d, duplicates %d); POST→WebSocket latency %v",
		r.Published, r.PublishFailures, float64(r.Published+r.PublishFailures)/r.Publishing.Seconds(),
		r.Received, r.Expected, r.Lost, r.Duplicates, r.Latency)
	s += fmt.Sprintf("; POST start after its slot p50=%v p99=%v, %d over 1ms", r.PublishLag.P50.Round(time.Microsecond), r.PublishLag.P99.Round(time.Microsecond), r.Late)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("; gateway CPU %.2f cores (%.1f µs/event)", r.ServerCPU.Seconds()/r.Elapsed.Seconds(), r.CPUPerEvent())
	}
	if r.LoadCPU > 0 {
		s += fmt.Sprintf("; load tool CPU %.2f cores", r.LoadCPU.Seconds()/r.Elapsed.Seconds())
	}
	if r.FirstFailure != "" {
		s += " (first failure: " + r.FirstFailure + ")"
	}
	return s
}

// Latency subscribes opts.Subscribers sockets to the topic, then publishes
// opts.Rate single-event POSTs per second for opts.Duration, each event
// carrying the time its POST began and a sequence number. Every subscriber
// times each event on arrival and marks its sequence number, so the report
// gives the POST-to-delivery distribution over all deliveries and every
// event some subscriber never received.
func Latency(ctx context.Context, t Target, opts LatencyOptions) (LatencyReport, error) {
	if err := t.validate(); err != nil {
		return LatencyReport{}, err
	}
	if opts.Subscribers <= 0 || opts.Rate <= 0 || opts.Duration <= 0 {
		return LatencyReport{}, fmt.Errorf("latency run needs subscribers, rate and duration above zero")
	}
	if err := fillAcks(&opts.Acks); err != nil {
		return LatencyReport{}, err
	}
	if err := opts.Client.fill(); err != nil {
		return LatencyReport{}, err
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 64
	}
	if opts.Drain <= 0 {
		opts.Drain = 10 * time.Second
	}
	total := int(int64(opts.Rate) * int64(opts.Duration) / int64(time.Second))
	subs, err := dialAll(ctx, t, opts.Subscribers, true, total)
	if err != nil {
		return LatencyReport{}, err
	}
	defer closeAll(subs)

	server, self := startCPU(t.ServerPID), startCPU(0)
	start := time.Now()
	pub := publishPaced(ctx, t, opts, total)
	publishing := time.Since(start)
	var published int64
	for _, ok := range pub.acked {
		if ok {
			published++
		}
	}

	// Wait for the deliveries, bounded by Drain.
	want := published * int64(len(subs))
	deadline := time.Now().Add(opts.Drain)
	for time.Now().Before(deadline) && received(subs) < want {
		time.Sleep(20 * time.Millisecond)
	}
	r := LatencyReport{
		Published: published, PublishFailures: pub.failures, Expected: want,
		PublishLag: pub.lag.quantiles(), Late: pub.late, Publishing: publishing,
		Elapsed: time.Since(start), ServerCPU: server.used(), FirstFailure: pub.first.text,
	}
	if t.ServerPID != 0 {
		r.LoadCPU = self.used()
	}
	closeAll(subs)
	var lat latencies
	for _, s := range subs {
		r.Received += s.events.Load()
		r.Duplicates += s.duplicates
		lat.addAll(s.lat)
	}
	// An event is lost for a subscriber when its POST succeeded and the
	// subscriber never saw its sequence number; a failed POST may still
	// have been written, so only successes are counted.
	for _, s := range subs {
		for seq, ok := range pub.acked {
			if ok && !s.seen[seq] {
				r.Lost++
			}
		}
	}
	r.Latency = lat.quantiles()
	return r, nil
}

func received(subs []*subscriber) int64 {
	var n int64
	for _, s := range subs {
		n += s.events.Load()
	}
	return n
}

func dialAll(ctx context.Context, t Target, n int, measure bool, maxSeq int) ([]*subscriber, error) {
	subs := make([]*subscriber, 0, n)
	for range n {
		s, err := dialSubscriber(ctx, t, measure, maxSeq)
		if err != nil {
			closeAll(subs)
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, nil
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		select {
		case <-s.done:
		default:
			s.close()
		}
	}
}

// published is what publishPaced did: acked[i] says whether the i-th
// event's POST was answered with success.
type published struct {
	acked    []bool
	failures int64
	first    firstFailure
	lag      latencies
	late     int64
}

// publishPaced sends total single-event POSTs, the i-th at start + i/rate
// (see pacer), each from whichever of opts.InFlight workers is free. Each
// event's probe carries the time its POST began, so the latency measured
// is the gateway's, not the wait for a free worker; that wait shows in
// the lag.
func publishPaced(ctx context.Context, t Target, opts LatencyOptions, total int) *published {
	pool := newClientPool(opts.Client, opts.InFlight)
	defer pool.close()
	res := &published{acked: make([]bool, total)}
	slots := make(chan slot)
	p := &pacer{rate: opts.Rate, total: total}
	var (
		fail, late atomic.Int64
		wg         sync.WaitGroup
	)
	for range opts.InFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post := pool.poster(t, opts.Acks)
			defer post.release()
			var body []byte
			var lag []time.Duration
			defer func() { res.lag.addAll(lag) }()
			for s := range slots {
				sent := time.Now()
				d := sent.Sub(s.due)
				lag = append(lag, d)
				if d > time.Millisecond {
					late.Add(1)
				}
				body = append(body[:0], `{"value":{"sent":`...)
				body = strconv.AppendInt(body, sent.UnixNano(), 10)
				body = append(body, `,"seq":`...)
				body = strconv.AppendInt(body, int64(s.seq), 10)
				body = append(body, `}}`...)
				if err := post.post(body); err != nil {
					fail.Add(1)
					res.first.note(err)
					continue
				}
				res.acked[s.seq] = true
			}
		}()
	}
	// The pacer runs on a goroutine of its own: it locks it to a thread,
	// which ends with it.
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		p.run(ctx, slots)
	}()
	<-paced
	wg.Wait()
	res.failures, res.late = fail.Load(), late.Load()
	return res
}
