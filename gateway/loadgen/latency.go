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
	Elapsed                              time.Duration
	ServerCPU                            time.Duration
	FirstFailure                         string
}

func (r LatencyReport) String() string {
	s := fmt.Sprintf("published %d (%d failed), delivered %d of %d (lost %d, duplicates %d); POST→WebSocket latency %v",
		r.Published, r.PublishFailures, r.Received, r.Expected, r.Lost, r.Duplicates, r.Latency)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("; gateway CPU %.2f cores", r.ServerCPU.Seconds()/r.Elapsed.Seconds())
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
	if opts.Acks == "" {
		opts.Acks = "1"
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

	server := startCPU(t.ServerPID)
	start := time.Now()
	acked, failures, firstFailure := publishPaced(ctx, t, opts, total)
	var published int64
	for _, ok := range acked {
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
		Published: published, PublishFailures: failures, Expected: want,
		Elapsed: time.Since(start), ServerCPU: server.used(), FirstFailure: firstFailure,
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
		for seq, ok := range acked {
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

// publishPaced sends total single-event POSTs, the i-th no earlier than
// start + i/rate, from enough workers that a slow answer does not hold back
// the schedule. acked[i] says whether the i-th was answered with success.
func publishPaced(ctx context.Context, t Target, opts LatencyOptions, total int) (acked []bool, failures int64, firstFailureText string) {
	client := newHTTPClient(256)
	ok := make([]bool, total)
	var (
		fail  atomic.Int64
		first firstFailure
		wg    sync.WaitGroup
		next  atomic.Int64
	)
	interval := time.Second / time.Duration(opts.Rate)
	start := time.Now()
	workers := min(256, max(8, opts.Rate/200))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPoster(client, t, opts.Acks)
			defer p.release()
			var body []byte
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				sent := time.Now().UnixNano()
				body = append(body[:0], `{"value":{"sent":`...)
				body = strconv.AppendInt(body, sent, 10)
				body = append(body, `,"seq":`...)
				body = strconv.AppendInt(body, i, 10)
				body = append(body, `}}`...)
				if err := p.post(body); err != nil {
					fail.Add(1)
					first.note(err)
					continue
				}
				ok[i] = true
			}
		}()
	}
	wg.Wait()
	return ok, fail.Load(), first.text
}
