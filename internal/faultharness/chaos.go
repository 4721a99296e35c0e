package faultharness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// WorkloadOptions say how many of each client a Workload runs.
type WorkloadOptions struct {
	KafkaProducers int // idempotent franz-go producers, acks=all
	RESTProducers  int // through the cluster's gateway, acks=all, Idempotency-Key
	Consumers      int // plain franz-go consumers from the start
	// RESTConsumers long-poll every partition (Partitions of them) through
	// the gateway from offset 0.
	RESTConsumers int
	Partitions    int32
	// InFlight bounds each Kafka producer's outstanding records (default 200).
	InFlight int
	// Rate is each Kafka producer's records per second (default 2000).
	Rate int
	// RESTBatch is events per REST request (default 3).
	RESTBatch int
	// RESTTimeout is how long a REST producer waits for an answer before
	// it retries with the same Idempotency-Key (default 3 s: shorter than
	// the gateway's produce timeout, so retries race the first attempt).
	RESTTimeout time.Duration
}

// Workload is producers and consumers running against a topic, recording
// into History.
type Workload struct {
	History *History
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	stats   []string
	rest    []*RESTProducer
}

// StartWorkload starts the clients on topic; Stop ends them.
func (c *Cluster) StartWorkload(ctx context.Context, topic string, o WorkloadOptions) *Workload {
	c.t.Helper()
	if o.InFlight <= 0 {
		o.InFlight = 200
	}
	if o.Rate <= 0 {
		o.Rate = 2000
	}
	if o.RESTTimeout <= 0 {
		o.RESTTimeout = 3 * time.Second
	}
	if o.RESTBatch <= 0 {
		o.RESTBatch = 3
	}
	if (o.RESTProducers > 0 || o.RESTConsumers > 0) && c.Gateway == nil {
		c.t.Fatal("REST clients need a cluster started with a gateway")
	}
	if o.RESTConsumers > 0 && o.Partitions <= 0 {
		c.t.Fatal("REST consumers need the topic's partition count")
	}
	w := &Workload{History: NewHistory(), stop: make(chan struct{})}
	run := func(f func() (string, error)) {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			stat, err := f()
			w.mu.Lock()
			defer w.mu.Unlock()
			w.stats = append(w.stats, stat)
			if err != nil {
				w.errs = append(w.errs, err)
			}
		}()
	}
	for i := range o.KafkaProducers {
		name := fmt.Sprintf("kafka%d", i)
		cl := c.Client(KafkaProducerOptions()...)
		run(func() (string, error) {
			n, err := ProduceKafka(ctx, cl, name, topic, w.History, o.InFlight, o.Rate, w.stop)
			return fmt.Sprintf("%s sent %d", name, n), err
		})
	}
	for i := range o.RESTProducers {
		p := &RESTProducer{Name: fmt.Sprintf("rest%d", i), URL: c.Gateway.URL, Token: c.Gateway.Token, Topic: topic,
			Batch: o.RESTBatch, History: w.History, Client: &http.Client{Timeout: o.RESTTimeout}}
		w.rest = append(w.rest, p)
		run(func() (string, error) {
			n, err := p.Run(ctx, w.stop)
			return fmt.Sprintf("%s sent %d", p.Name, n), err
		})
	}
	for i := range o.Consumers {
		name := fmt.Sprintf("consumer%d", i)
		cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		run(func() (string, error) {
			return fmt.Sprintf("%s read %d", name, Consume(ctx, cl, name, w.History, w.stop)), nil
		})
	}
	for i := range o.RESTConsumers {
		for p := range o.Partitions {
			name := fmt.Sprintf("rest-consumer%d", i)
			run(func() (string, error) {
				n, err := ConsumeREST(ctx, c.Gateway, topic, p, name, w.History, w.stop)
				return fmt.Sprintf("%s/p%d read %d", name, p, n), err
			})
		}
	}
	return w
}

// Stop tells the clients to stop, lets producers finish what they sent
// (acknowledged or failed), and waits for all of them. It returns their
// errors (a producer refused for good, or unflushed at ctx's end).
func (w *Workload) Stop() error {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// Summary says what each client did and which produce errors were seen.
func (w *Workload) Summary() string {
	w.mu.Lock()
	stats := append([]string(nil), w.stats...)
	w.mu.Unlock()
	sort.Strings(stats)
	retries := 0
	for _, p := range w.rest {
		retries += p.Retries
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s; REST retries %d", strings.Join(stats, ", "), retries)
	errs := w.History.Errors()
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %5d x %s", errs[k], truncate([]byte(k), 200))
	}
	return b.String()
}

// Verify waits for every partition of topic to have a leader and its full
// ISR, reads them all back and checks the workload's history against them.
func (c *Cluster) Verify(ctx context.Context, seed uint64, topic string, partitions int32, h *History) (*Report, error) {
	if err := c.WaitInSync(topic, partitions, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	log, err := c.ReadBack(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return Check(seed, h, log), nil
}
