package loadgen

import (
	"context"
	"fmt"
	"time"
)

// FanoutOptions shape a fan-out throughput run.
type FanoutOptions struct {
	// Subscribers is the number of WebSocket clients, each subscribed to
	// every partition of the topic.
	Subscribers int
	// Publish is the produce load that runs meanwhile, as fast as it can.
	Publish ProduceOptions
}

// FanoutReport is the outcome of a fan-out run.
type FanoutReport struct {
	Produce ProduceReport
	// Delivered is the event frames all subscribers received while the
	// publisher ran.
	Delivered   int64
	Subscribers int
	Elapsed     time.Duration
	ServerCPU   time.Duration
}

// DeliveredPerSecond is the rate of event frames over all subscribers.
func (r FanoutReport) DeliveredPerSecond() float64 {
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

func (r FanoutReport) String() string {
	s := fmt.Sprintf("delivered %.0f events/s to %d subscribers; publisher: %v", r.DeliveredPerSecond(), r.Subscribers, r.Produce)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("; gateway CPU %.2f cores (%.2f µs per delivered event)", r.ServerCPU.Seconds()/r.Elapsed.Seconds(),
			float64(r.ServerCPU.Microseconds())/float64(max(r.Delivered, 1)))
	}
	return s
}

// Fanout subscribes opts.Subscribers sockets to the topic and publishes as
// fast as opts.Publish allows; it reports the event frames delivered per
// second over all subscribers while the publisher ran, and the gateway's
// CPU time over the same interval.
func Fanout(ctx context.Context, t Target, opts FanoutOptions) (FanoutReport, error) {
	if err := t.validate(); err != nil {
		return FanoutReport{}, err
	}
	if opts.Subscribers <= 0 {
		return FanoutReport{}, fmt.Errorf("fan-out run needs at least one subscriber")
	}
	subs, err := dialAll(ctx, t, opts.Subscribers, false, 0)
	if err != nil {
		return FanoutReport{}, err
	}
	defer closeAll(subs)
	server := startCPU(t.ServerPID)
	before := received(subs)
	start := time.Now()
	pr, err := Produce(ctx, t, opts.Publish)
	if err != nil {
		return FanoutReport{}, err
	}
	r := FanoutReport{Produce: pr, Subscribers: len(subs), Delivered: received(subs) - before, Elapsed: time.Since(start), ServerCPU: server.used()}
	return r, nil
}
