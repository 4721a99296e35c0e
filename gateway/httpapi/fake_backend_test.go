package httpapi

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"

	"github.com/runnel-dev/runnel/internal/plural"
)

// fakeBackend is an in-memory cluster for the handlers' unit tests. It
// answers errors the way the real Backend documents (apierr values with
// the API's statuses and codes). Topics named "panic", "boom" and
// "unavailable" make Produce panic, fail with a plain error, or answer 503;
// "full" answers 507.
type fakeBackend struct {
	mu       sync.Mutex
	topics   map[string]*fakeTopic
	idem     map[string][]backend.Result
	notify   chan struct{} // closed and replaced on every append
	notReady error
	rr       int
	produced int // events written, for tests
	// lastIdem is the last idempotency key Produce saw.
	lastIdem string
	// waiting counts fetches waiting for events.
	waiting int
	// groups are the consumer groups (fake_groups_test.go).
	groups map[string]*fakeGroup
	// scram are the SCRAM users (fake_scram_test.go).
	scram fakeScram
}

type fakeTopic struct {
	id     string
	config map[string]string
	parts  []*fakePartition
}

type fakePartition struct {
	logStart int64
	records  []event.Record // records[i] has offset logStart+i
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{topics: map[string]*fakeTopic{}, idem: map[string][]backend.Result{}, notify: make(chan struct{})}
}

func topicNotFound(name string) error {
	return apierr.New(http.StatusNotFound, apierr.CodeTopicNotFound, "topic %q does not exist", name)
}

func (f *fakeBackend) topicLocked(name string) (*fakeTopic, error) {
	t, ok := f.topics[name]
	if !ok {
		return nil, topicNotFound(name)
	}
	return t, nil
}

func (f *fakeBackend) Produce(ctx context.Context, topic string, acks backend.Acks, events []event.Event, idempotencyKey string) ([]backend.Result, error) {
	switch topic {
	case "panic":
		panic("fake backend asked to panic")
	case "boom":
		return nil, fmt.Errorf("broker connection reset (a secret detail)")
	case "unavailable":
		return nil, apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "partition 0 of topic %q has no leader", topic)
	case "full":
		e := apierr.New(http.StatusInsufficientStorage, apierr.CodeInsufficientStorage, "the broker leading partition 0 of topic %q cannot store events", topic)
		e.RetryAfter = 5 * time.Second
		return nil, e
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastIdem = idempotencyKey
	if idempotencyKey != "" {
		if r, ok := f.idem[topic+"\x00"+idempotencyKey]; ok {
			return r, nil
		}
	}
	t, err := f.topicLocked(topic)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	results := make([]backend.Result, len(events))
	for i, ev := range events {
		p := ev.Partition
		switch {
		case p >= int32(len(t.parts)):
			return nil, apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound,
				"topic %q has %s; there is no partition %d", topic, plural.Noun(len(t.parts), "partition"), p)
		case p < 0 && ev.Key != nil:
			h := fnv.New32a()
			h.Write(ev.Key)
			p = int32(h.Sum32() % uint32(len(t.parts)))
		case p < 0:
			p = int32(f.rr % len(t.parts))
			f.rr++
		}
		ts := ev.Timestamp
		if ts == 0 {
			ts = now
		}
		part := t.parts[p]
		off := part.logStart + int64(len(part.records))
		hs := make([]event.Header, len(ev.Headers))
		for j, h := range ev.Headers {
			hs[j] = event.Header{Key: h.Key, Value: append([]byte(nil), h.Value...)}
		}
		part.records = append(part.records, event.Record{
			Partition: p, Offset: off, Timestamp: ts, Headers: hs,
			Key: cloneBytes(ev.Key), Value: cloneBytes(ev.Value),
		})
		f.produced++
		if acks == backend.AcksNone {
			off = -1
		}
		results[i] = backend.Result{Partition: p, Offset: off, Timestamp: ts}
	}
	if idempotencyKey != "" {
		f.idem[topic+"\x00"+idempotencyKey] = results
	}
	close(f.notify)
	f.notify = make(chan struct{})
	return results, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (f *fakeBackend) Fetch(ctx context.Context, topic string, partition int32, offset int64, opts backend.FetchOptions) (event.Batch, error) {
	for {
		f.mu.Lock()
		t, err := f.topicLocked(topic)
		if err != nil {
			f.mu.Unlock()
			return event.Batch{}, err
		}
		if partition >= int32(len(t.parts)) {
			f.mu.Unlock()
			return event.Batch{}, apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound,
				"topic %q has %s; there is no partition %d", topic, plural.Noun(len(t.parts), "partition"), partition)
		}
		p := t.parts[partition]
		hw := p.logStart + int64(len(p.records))
		if offset < p.logStart || offset > hw {
			f.mu.Unlock()
			e := apierr.New(http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange,
				"offset %d is outside the log, %d to %d", offset, p.logStart, hw)
			e.Extra = map[string]any{"log_start_offset": p.logStart, "high_watermark": hw}
			return event.Batch{}, e
		}
		if offset < hw || opts.Wait == 0 {
			recs := p.records[offset-p.logStart:]
			if len(recs) > opts.Limit {
				recs = recs[:opts.Limit]
			}
			res := event.Batch{Records: append([]event.Record(nil), recs...), NextOffset: offset + int64(len(recs)),
				HighWatermark: hw, LogStartOffset: p.logStart}
			f.mu.Unlock()
			return res, nil
		}
		wake := f.notify
		f.waiting++
		f.mu.Unlock()
		timer := time.NewTimer(opts.Wait)
		var ctxErr error
		select {
		case <-wake:
		case <-timer.C:
			opts.Wait = 0
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		timer.Stop()
		f.mu.Lock()
		f.waiting--
		f.mu.Unlock()
		if ctxErr != nil {
			return event.Batch{}, ctxErr
		}
	}
}

func (f *fakeBackend) Offsets(ctx context.Context, topic string, timestamp *int64) ([]backend.PartitionOffsets, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.topicLocked(topic)
	if err != nil {
		return nil, err
	}
	out := make([]backend.PartitionOffsets, len(t.parts))
	for i, p := range t.parts {
		out[i] = backend.PartitionOffsets{Partition: int32(i), Earliest: p.logStart, Latest: p.logStart + int64(len(p.records))}
		if timestamp != nil {
			off := int64(-1)
			for _, r := range p.records {
				if r.Timestamp >= *timestamp {
					off = r.Offset
					break
				}
			}
			out[i].ForTimestamp = &off
		}
	}
	// Out of order, to check that the handler sorts.
	sort.Slice(out, func(i, j int) bool { return out[i].Partition > out[j].Partition })
	return out, nil
}

func (f *fakeBackend) infoLocked(name string, t *fakeTopic) backend.TopicInfo {
	info := backend.TopicInfo{Name: name, ID: t.id, Config: map[string]string{}}
	for k, v := range t.config {
		info.Config[k] = v
	}
	for i, p := range t.parts {
		info.Partitions = append(info.Partitions, backend.PartitionInfo{ID: int32(i), Leader: 1, Replicas: []int32{1}, ISR: []int32{1},
			LogStartOffset: p.logStart, HighWatermark: p.logStart + int64(len(p.records))})
	}
	return info
}

func (f *fakeBackend) CreateTopic(ctx context.Context, spec backend.TopicSpec) (backend.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.topics[spec.Name]; ok {
		return backend.TopicInfo{}, apierr.New(http.StatusConflict, apierr.CodeTopicExists, "topic %q already exists", spec.Name)
	}
	if spec.ReplicationFactor > 1 {
		return backend.TopicInfo{}, apierr.Invalid("replication factor %d is larger than the 1 broker", spec.ReplicationFactor)
	}
	t := &fakeTopic{id: uuid.NewString(), config: map[string]string{}}
	for k, v := range spec.Config {
		t.config[k] = v
	}
	for range spec.Partitions {
		t.parts = append(t.parts, &fakePartition{})
	}
	f.topics[spec.Name] = t
	return f.infoLocked(spec.Name, t), nil
}

func (f *fakeBackend) ListTopics(ctx context.Context) ([]backend.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []backend.TopicInfo
	for name, t := range f.topics {
		out = append(out, f.infoLocked(name, t))
	}
	return out, nil
}

func (f *fakeBackend) DescribeTopic(ctx context.Context, name string) (backend.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.topicLocked(name)
	if err != nil {
		return backend.TopicInfo{}, err
	}
	return f.infoLocked(name, t), nil
}

func (f *fakeBackend) AlterTopic(ctx context.Context, name string, change backend.TopicChange) (backend.TopicInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.topicLocked(name)
	if err != nil {
		return backend.TopicInfo{}, err
	}
	if change.Partitions != nil {
		if int(*change.Partitions) <= len(t.parts) {
			return backend.TopicInfo{}, apierr.New(http.StatusConflict, apierr.CodeConflict, "fake: partitions must grow")
		}
		for len(t.parts) < int(*change.Partitions) {
			t.parts = append(t.parts, &fakePartition{})
		}
	}
	for k, v := range change.Config {
		if v == nil {
			delete(t.config, k)
		} else {
			t.config[k] = *v
		}
	}
	return f.infoLocked(name, t), nil
}

func (f *fakeBackend) DeleteTopic(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.topicLocked(name); err != nil {
		return err
	}
	delete(f.topics, name)
	return nil
}

func (f *fakeBackend) Ready(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

// trim drops a partition's records below offset, as retention does.
func (f *fakeBackend) trim(topic string, partition int, offset int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.topics[topic].parts[partition]
	p.records = p.records[offset-p.logStart:]
	p.logStart = offset
}

var _ Backend = (*fakeBackend)(nil)
