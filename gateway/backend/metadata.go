package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// topicState is one topic as a Metadata response describes it.
type topicState struct {
	meta    TopicMeta
	parts   []partitionState // by partition id
	fetched time.Time
}

// partitionState is one partition of a Metadata response.
type partitionState struct {
	leader   int32 // -1 without a leader
	replicas []int32
	isr      []int32
}

// metaCache holds recent topic descriptions: enough to validate a produce or
// fetch and route it, without a Metadata round trip per request.
type metaCache struct {
	mu     sync.Mutex
	topics map[string]*topicState
}

func (c *metaCache) get(name string) *topicState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics[name]
}

func (c *metaCache) put(ts *topicState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.topics == nil {
		c.topics = make(map[string]*topicState)
	}
	c.topics[ts.meta.Name] = ts
}

func (c *metaCache) drop(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.topics, name)
}

// TopicMeta returns the topic's ID and partition count, from the cache when
// it is younger than Config.MetadataMaxAge, else from a Metadata request. An
// unknown topic is a 404 topic_not_found *apierr.Error.
func (b *Backend) TopicMeta(ctx context.Context, name string) (TopicMeta, error) {
	ts, err := b.topic(ctx, name, false)
	if err != nil {
		return TopicMeta{}, err
	}
	return ts.meta, nil
}

// topic returns the topic's state, cached unless fresh is set or the cached
// state is older than MetadataMaxAge.
func (b *Backend) topic(ctx context.Context, name string, fresh bool) (*topicState, error) {
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	if !fresh {
		if ts := b.meta.get(name); ts != nil && time.Since(ts.fetched) < b.cfg.MetadataMaxAge {
			return ts, nil
		}
	}
	all, err := b.loadTopics(ctx, []string{name})
	if err != nil {
		return nil, apiError(err, topicScope(name))
	}
	ts, ok := all[name]
	if !ok {
		b.meta.drop(name)
		return nil, apiError(kerr.UnknownTopicOrPartition, topicScope(name))
	}
	return ts, nil
}

// partition checks that the topic has partition p, asking for metadata again
// before refusing (partitions may have been added since it was cached).
func (b *Backend) partition(ctx context.Context, topic string, p int32) (*topicState, error) {
	ts, err := b.topic(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	if p < 0 {
		return nil, apierr.Invalid("partition %d: partitions are numbered from 0", p)
	}
	if p >= ts.meta.Partitions {
		if ts, err = b.topic(ctx, topic, true); err != nil {
			return nil, err
		}
		if p >= ts.meta.Partitions {
			return nil, apiError(kerr.UnknownTopicOrPartition, scope{topic, p})
		}
	}
	return ts, nil
}

// loadTopics asks for the named topics (all topics when names is nil) and
// caches what it learns. Topics that do not exist are left out. It never asks
// the broker to create a topic, whatever auto.create.topics.enable says.
//
// A topic missing from metadata that is not known yet is no proof that it
// does not exist: until Ready has passed once (a gateway or broker just
// started), and whenever the answering broker lists no live brokers (it has
// not caught up with the cluster), it answers 503 not ready, never a 404.
func (b *Backend) loadTopics(ctx context.Context, names []string) (map[string]*topicState, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if !b.warm.Load() {
		if err := b.Ready(ctx); err != nil {
			return nil, notLearnt(err)
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, n := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, b.cl)
	if err != nil {
		return nil, fmt.Errorf("backend: metadata: %w", err)
	}
	if len(resp.Brokers) == 0 {
		return nil, notLearnt(errors.New("the broker that answered lists no live brokers"))
	}
	now := time.Now()
	out := make(map[string]*topicState, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		err := kerr.ErrorForCode(t.ErrorCode)
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("backend: metadata for %s: %w", *t.Topic, err)
		}
		if t.IsInternal && names == nil {
			continue
		}
		ts := &topicState{
			meta:    TopicMeta{Name: *t.Topic, ID: uuid.UUID(t.TopicID).String(), Partitions: int32(len(t.Partitions))},
			parts:   make([]partitionState, len(t.Partitions)),
			fetched: now,
		}
		sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Partition < t.Partitions[j].Partition })
		for i, p := range t.Partitions {
			if p.Partition != int32(i) {
				return nil, fmt.Errorf("backend: metadata for %s lists partition %d where %d was expected", *t.Topic, p.Partition, i)
			}
			ts.parts[i] = partitionState{leader: p.Leader, replicas: p.Replicas, isr: p.ISR}
		}
		b.meta.put(ts)
		out[ts.meta.Name] = ts
	}
	return out, nil
}

// checkTopicName refuses names Kafka would, before a broker is asked.
func checkTopicName(name string) error {
	if name == "" {
		return apierr.Invalid("the topic name is empty")
	}
	if len(name) > 249 {
		return apierr.Invalid("topic name of %d characters: at most 249", len(name))
	}
	if name == "." || name == ".." {
		return apierr.Invalid("topic name %q is reserved", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidRequest,
				Message: fmt.Sprintf("topic name %q: only letters, digits, '.', '_' and '-' are allowed", name)}
		}
	}
	return nil
}

// notLearnt is the 503 of a topic lookup before the cluster's metadata is
// known; why says what is missing.
func notLearnt(why error) *apierr.Error {
	msg := why.Error()
	var ae *apierr.Error
	if errors.As(why, &ae) {
		msg = strings.TrimSuffix(ae.Message, "; retry")
	}
	return unavailable(why, "the gateway has not learnt the cluster's metadata yet (%s)", msg)
}
