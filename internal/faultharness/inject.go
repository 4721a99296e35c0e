package faultharness

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// terminateGrace is how long a SIGTERMed broker may take to move its
// leaderships away and exit before it is killed.
const terminateGrace = 30 * time.Second

// Inject starts fault f on broker id and returns what heals it. A kill is
// healed by a restart, a pause by SIGCONT, a SIGTERM by a start, network
// faults by lifting them.
func (c *Cluster) Inject(kind FaultKind, id int, shaping Shaping) (heal func() error, err error) {
	b := c.Broker(id)
	switch kind {
	case Kill:
		b.Kill()
		return b.startListening, nil
	case Pause:
		if err := b.Pause(); err != nil {
			return nil, err
		}
		return b.Resume, nil
	case Restart:
		if _, err := b.Terminate(terminateGrace); err != nil {
			return b.startListening, err
		}
		return b.startListening, nil
	case Isolate:
		c.Net.Isolate(id)
	case CutInbound:
		c.Net.CutInbound(id)
	case CutOutbound:
		c.Net.CutOutbound(id)
	case Slow:
		c.Net.Slow(id, shaping)
	case Refuse:
		c.Net.Refuse(id)
	default:
		return nil, fmt.Errorf("inject: unknown fault %v", kind)
	}
	return func() error { c.Net.Heal(id); return nil }, nil
}

// startListening starts the broker (if it is not running) and waits for its
// Kafka port.
func (b *Broker) startListening() error {
	if b.Running() {
		return nil
	}
	if err := b.Start(); err != nil {
		return err
	}
	return pollUntil(listenTimeout, func(context.Context) error {
		select {
		case <-b.Done():
			return fmt.Errorf("%s exited on restart: %s", b.Name, b.Output(2000))
		default:
		}
		return dialOnce(b.Kafka)
	})
}

// HealAll lifts every network fault, resumes paused brokers and starts
// stopped ones.
func (c *Cluster) HealAll() error {
	c.Net.HealAll()
	for _, b := range c.Brokers {
		b.mu.Lock()
		stopped := b.stopped
		b.mu.Unlock()
		if stopped {
			if err := b.Resume(); err != nil {
				return err
			}
		}
		if err := b.startListening(); err != nil {
			return err
		}
	}
	return nil
}

// RunSchedule injects the schedule's faults on the cluster in time (At is
// counted from the call), resolving leader targets against topic, healing
// each fault when it ends and everything at the end. Every step is logged
// through logf. A leader target that resolves to a broker already hit in
// its round, or to no leader, is skipped (and logged). It returns early,
// healed, when ctx ends.
func (c *Cluster) RunSchedule(ctx context.Context, s *Schedule, topic string, logf func(format string, args ...any)) error {
	start := time.Now()
	sleepUntil := func(at time.Duration) bool {
		select {
		case <-time.After(time.Until(start.Add(at))):
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer func() {
		if err := c.HealAll(); err != nil {
			logf("heal all: %v", err)
		}
	}()
	for _, round := range s.Rounds() {
		if !sleepUntil(round[0].At) {
			return nil
		}
		type active struct {
			end  time.Duration
			heal func() error
			what string
		}
		var acts []active
		hit := map[int]bool{}
		for _, f := range round {
			if !f.Target.Leader {
				hit[f.Target.Broker] = true
			}
		}
		for _, f := range round {
			id := f.Target.Broker
			if f.Target.Leader {
				lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				leader, err := c.Leader(lctx, topic, f.Target.Partition)
				cancel()
				if err != nil || hit[leader] {
					logf("%v skip %s: leader %d, %v", time.Since(start).Round(time.Millisecond), f, leader, err)
					continue
				}
				id = leader
				hit[id] = true
			}
			what := fmt.Sprintf("%s on broker %d (%s)", f.Kind, id, f)
			heal, err := c.Inject(f.Kind, id, f.Shaping)
			logf("%v inject %s: err=%v", time.Since(start).Round(time.Millisecond), what, err)
			if heal != nil {
				acts = append(acts, active{end: f.At + f.For, heal: heal, what: what})
			}
		}
		sort.Slice(acts, func(i, j int) bool { return acts[i].end < acts[j].end })
		for _, a := range acts {
			sleepUntil(a.end)
			err := a.heal()
			logf("%v heal %s: err=%v", time.Since(start).Round(time.Millisecond), a.what, err)
			if err != nil {
				return fmt.Errorf("heal %s: %w", a.what, err)
			}
		}
	}
	sleepUntil(s.endsAt())
	return nil
}

// endsAt is when the last fault ends.
func (s *Schedule) endsAt() time.Duration {
	var end time.Duration
	for _, f := range s.Faults {
		end = max(end, f.At+f.For)
	}
	return end
}
