package faultharness

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// lagMax is the --replica-lag-time-max the ISR tests run brokers with.
const lagMax = 3 * time.Second

// TestISRShrinksAndExpands stops a follower (SIGSTOP; and, separately,
// cuts only its fetches from the leader) while a producer writes: the
// leader drops it from the ISR within replica.lag.time.max + 2 s, and takes
// it back once it resumes and catches up. The ISR is read from the
// leader's Metadata answers.
func TestISRShrinksAndExpands(t *testing.T) {
	for _, how := range []string{"sigstop", "fetch-cut"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			c := StartCluster(t, ClusterOptions{Brokers: 3, BrokerArgs: []string{"--replica-lag-time-max", lagMax.String()}})
			const topic = "isr"
			c.CreateTopic(topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			leader, err := c.Leader(ctx, topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			follower := leader%3 + 1
			w := c.StartWorkload(ctx, topic, WorkloadOptions{KafkaProducers: 1, Rate: 200})
			defer w.Stop()
			isrOf := func() ([]int32, error) {
				rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
				defer rcancel()
				l, isr, err := PartitionFrom(rctx, c.Broker(leader).Kafka, topic, 0)
				if err == nil && int(l) != leader {
					err = fmt.Errorf("leader moved from %d to %d", leader, l)
				}
				return isr, err
			}
			time.Sleep(time.Second)

			var heal func() error
			start := time.Now()
			if how == "sigstop" {
				heal, err = c.Inject(Pause, follower, Shaping{})
			} else {
				c.Net.CutLink(Kafka, follower, leader)
				heal = func() error { c.Net.HealAll(); return nil }
			}
			if err != nil {
				t.Fatal(err)
			}
			var shrunk time.Duration
			for {
				isr, err := isrOf()
				if err != nil {
					t.Fatalf("ISR from the leader: %v", err)
				}
				if !slices.Contains(isr, int32(follower)) {
					shrunk = time.Since(start)
					t.Logf("follower %d stopped (%s): left the ISR %v after %v", follower, how, isr, shrunk.Round(time.Millisecond))
					break
				}
				if time.Since(start) > lagMax+2*time.Second {
					t.Fatalf("follower %d stopped (%s) %v ago is still in the ISR %v (replica lag max %v)", follower, how, time.Since(start), isr, lagMax)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := heal(); err != nil {
				t.Fatal(err)
			}
			resumed := time.Now()
			c.waitFor(60*time.Second, func(context.Context) error {
				isr, err := isrOf()
				if err != nil {
					return err
				}
				if !slices.Contains(isr, int32(follower)) {
					return fmt.Errorf("follower %d not back in the ISR %v", follower, isr)
				}
				return nil
			})
			t.Logf("follower %d back in the ISR %v after resuming", follower, time.Since(resumed).Round(time.Millisecond))
		})
	}
}
