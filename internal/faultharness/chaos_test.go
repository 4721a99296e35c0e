package faultharness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// chaosRun is one seeded run: a cluster under the schedule with the full
// workload for at least a minute, then healed and checked.
type chaosRun struct {
	brokers    int
	partitions int32
	seed       uint64
	duration   time.Duration
}

func (r chaosRun) run(t *testing.T) {
	seed := Seed(t, r.seed)
	c := StartCluster(t, ClusterOptions{Brokers: r.brokers, Gateway: true})
	const topic = "chaos"
	c.CreateTopic(topic, r.partitions, 3, map[string]string{"min.insync.replicas": "2"})
	s, err := NewSchedule(seed, ScheduleOptions{Brokers: r.brokers, Partitions: r.partitions, Duration: r.duration})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s)
	ctx, cancel := context.WithTimeout(context.Background(), r.duration+5*time.Minute)
	defer cancel()
	w := c.StartWorkload(ctx, topic, WorkloadOptions{KafkaProducers: 2, RESTProducers: 2, Consumers: 2,
		RESTConsumers: 1, Partitions: r.partitions})
	start := time.Now()
	if err := c.RunSchedule(ctx, s, topic, t.Logf); err != nil {
		t.Error(err)
	}
	// Healed: let the workload run on a healthy cluster for the rest of
	// the duration plus a few seconds, so every producer gets through.
	time.Sleep(max(r.duration-time.Since(start), 0) + 5*time.Second)
	stopErr := w.Stop()
	t.Logf("workload over %v: %s", time.Since(start).Round(time.Second), w.Summary())
	if stopErr != nil {
		t.Errorf("workload: %v", stopErr)
	}
	report, err := c.Verify(ctx, seed, topic, r.partitions, w.History)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Log(report)
	for _, re := range refusals(stopErr) {
		for _, id := range re.IDs {
			t.Logf("refused request %s: %s is at %v in the final log", re.Key, id, report.Find(id))
		}
	}
	if len(report.Violations) > 0 {
		t.Errorf("seed %d broke the guarantees of acks=all:\n%s", seed, report)
	}
	if report.Acked < 1000 || report.Read < 1000 {
		t.Errorf("seed %d: only %d records acknowledged and %d read: the workload barely ran", seed, report.Acked, report.Read)
	}
	for _, who := range []string{"kafka", "rest"} {
		if n := ackedBy(w.History, who); n < 50 {
			t.Errorf("seed %d: only %d records acknowledged to %s producers", seed, n, who)
		}
	}
}

// refusals lists the RefusedErrors in err (one, or joined).
func refusals(err error) []*RefusedError {
	var out []*RefusedError
	var re *RefusedError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, refusals(e)...)
		}
	} else if errors.As(err, &re) {
		out = append(out, re)
	}
	return out
}

func ackedBy(h *History, prefix string) int {
	n := 0
	for _, a := range h.Acks() {
		if strings.HasPrefix(a.ID.Producer, prefix) {
			n++
		}
	}
	return n
}

// TestChaos runs the fault schedule of three seeds on 3 brokers and one on
// 5, a minute each, with idempotent Kafka producers, REST producers with
// Idempotency-Keys and consumers, then proves nothing acknowledged was lost,
// duplicated, moved or reordered and no consumer read a record that is gone.
// RUNNEL_SEED replays one seed in every run.
func TestChaos(t *testing.T) {
	runs := []chaosRun{
		{brokers: 3, partitions: 6, seed: 1},
		{brokers: 3, partitions: 6, seed: 2},
		{brokers: 3, partitions: 6, seed: 3},
		{brokers: 5, partitions: 8, seed: 4},
	}
	for _, r := range runs {
		r.duration = time.Minute
		t.Run(fmt.Sprintf("brokers=%d/seed=%d", r.brokers, r.seed), func(t *testing.T) {
			t.Parallel()
			r.run(t)
		})
	}
}
