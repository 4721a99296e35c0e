package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/gateway/apierr"

	"github.com/runnel-dev/runnel/internal/plural"
)

// Topic administration through kadm. Configs are validated by the brokers;
// their refusals come back as 400 invalid_request with the broker's message.
//
// A described topic's Config holds every config of the topic with its
// effective value, defaults included (as Kafka's DescribeConfigs lists them),
// so that a reader sees what applies without knowing the defaults; deleting a
// key with AlterTopic shows its default again.

// adminPoll is the pause between looks at metadata while a change settles.
const adminPoll = 50 * time.Millisecond

// CreateTopic creates a topic and returns it described, once every partition
// has a leader. Partitions and ReplicationFactor of 0 take the brokers'
// defaults.
func (b *Backend) CreateTopic(ctx context.Context, spec TopicSpec) (TopicInfo, error) {
	if spec.Partitions < 0 || spec.ReplicationFactor < 0 {
		return TopicInfo{}, apierr.Invalid("partitions %d and replication factor %d must be positive (or 0 for the default)", spec.Partitions, spec.ReplicationFactor)
	}
	if err := b.live(); err != nil {
		return TopicInfo{}, apiError(err, topicScope(spec.Name))
	}
	partitions, rf := spec.Partitions, spec.ReplicationFactor
	if partitions == 0 {
		partitions = -1
	}
	if rf == 0 {
		rf = -1
	}
	var configs map[string]*string
	if len(spec.Config) > 0 {
		configs = make(map[string]*string, len(spec.Config))
		for k, v := range spec.Config {
			configs[k] = &v
		}
	}
	resp, err := b.adm.CreateTopic(ctx, partitions, rf, configs, spec.Name)
	if err != nil {
		return TopicInfo{}, apiError(withMessage(err, &resp.ErrMessage), topicScope(spec.Name))
	}
	if err := b.waitForLeaders(ctx, spec.Name, 1); err != nil {
		return TopicInfo{}, err
	}
	return b.describeTopic(ctx, spec.Name, offsetsSettle)
}

// waitForLeaders waits until the topic has at least min partitions, each
// with a leader: a created or grown topic is usable when the call returns.
func (b *Backend) waitForLeaders(ctx context.Context, name string, min int32) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.AdminTimeout)
	defer cancel()
	for {
		ts, err := b.topic(ctx, name, true)
		var ae *apierr.Error
		if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusNotFound) {
			return err
		}
		if err == nil && ts.meta.Partitions >= min && allLed(ts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return unavailable(ctx.Err(), "topic %q was changed but its partitions have no leaders yet", name)
		case <-time.After(adminPoll):
		}
	}
}

func allLed(ts *topicState) bool {
	for _, p := range ts.parts {
		if p.leader < 0 {
			return false
		}
	}
	return true
}

// ListTopics describes every topic but internal ones, sorted by name.
func (b *Backend) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	topics, err := b.loadTopics(ctx, nil)
	if err != nil {
		return nil, apiError(err, scope{})
	}
	out := make([]TopicInfo, 0, len(topics))
	if len(topics) == 0 {
		return out, nil
	}
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Strings(names)
	infos, err := b.describe(ctx, names, topics)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if info, ok := infos[n]; ok { // deleted in between: left out
			out = append(out, info)
		}
	}
	return out, nil
}

// DescribeTopic describes one topic: its ID, configs (see the comment above
// CreateTopic) and partitions with leader, replicas, in-sync replicas, log
// start offset and high watermark (0 when the partition has no leader).
func (b *Backend) DescribeTopic(ctx context.Context, name string) (TopicInfo, error) {
	return b.describeTopic(ctx, name, 0)
}

// describeTopic is DescribeTopic asking again for up to settle while the
// topic is not found: brokers apply a topic's creation one after another,
// and one asked for its metadata, configs or offsets may not know it yet
// while another already did.
func (b *Backend) describeTopic(ctx context.Context, name string, settle time.Duration) (TopicInfo, error) {
	deadline := time.Now().Add(settle)
	for {
		ts, err := b.topic(ctx, name, true)
		var infos map[string]TopicInfo
		if err == nil {
			infos, err = b.describe(ctx, []string{name}, map[string]*topicState{name: ts})
		}
		var ae *apierr.Error
		notFound := errors.Is(err, kerr.UnknownTopicOrPartition) || (errors.As(err, &ae) && ae.Status == http.StatusNotFound)
		if err != nil && !notFound {
			return TopicInfo{}, err
		}
		if info, ok := infos[name]; ok && err == nil {
			return info, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = apiError(kerr.UnknownTopicOrPartition, topicScope(name))
			}
			return TopicInfo{}, err
		}
		select {
		case <-ctx.Done():
			return TopicInfo{}, apiError(ctx.Err(), topicScope(name))
		case <-time.After(adminPoll):
		}
	}
}

// describe adds configs and offsets to the metadata of topics. Topics that
// vanished in between are left out.
func (b *Backend) describe(ctx context.Context, names []string, topics map[string]*topicState) (map[string]TopicInfo, error) {
	sc := scope{partition: -1}
	if len(names) == 1 {
		sc.topic = names[0]
	}
	configs, err := b.adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, apiError(fmt.Errorf("backend: describe configs: %w", err), sc)
	}
	starts, ends, err := b.listOffsets(ctx, names, topics)
	if err != nil {
		return nil, apiError(err, sc)
	}
	out := make(map[string]TopicInfo, len(names))
	for _, rc := range configs {
		ts, ok := topics[rc.Name]
		if !ok {
			continue
		}
		if rc.Err != nil {
			if errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
				continue
			}
			return nil, apiError(withMessage(rc.Err, &rc.ErrMessage), topicScope(rc.Name))
		}
		info := TopicInfo{Name: rc.Name, ID: ts.meta.ID, Config: make(map[string]string, len(rc.Configs))}
		for _, c := range rc.Configs {
			if c.Value != nil && !c.Sensitive {
				info.Config[c.Key] = *c.Value
			}
		}
		info.Partitions = make([]PartitionInfo, len(ts.parts))
		for i, p := range ts.parts {
			// Offsets that cannot be listed (no leader) are 0, never
			// -1: the API's offsets are never negative.
			pi := PartitionInfo{ID: int32(i), Leader: p.leader, Replicas: nonNil(p.replicas), ISR: nonNil(p.isr)}
			if o, ok := starts.Lookup(rc.Name, int32(i)); ok && o.Err == nil {
				pi.LogStartOffset = o.Offset
			}
			if o, ok := ends.Lookup(rc.Name, int32(i)); ok && o.Err == nil {
				pi.HighWatermark = o.Offset
			}
			info.Partitions[i] = pi
		}
		out[rc.Name] = info
	}
	return out, nil
}

// offsetsSettle bounds how long describe waits for partitions that have a
// leader but do not answer ListOffsets yet: a topic just created, whose
// leaders are elected before every replica has opened its log.
const offsetsSettle = 5 * time.Second

// listOffsets lists the start and end offsets of the topics' partitions,
// asking again (for up to offsetsSettle) while a partition with a leader
// has not answered both.
func (b *Backend) listOffsets(ctx context.Context, names []string, topics map[string]*topicState) (starts, ends kadm.ListedOffsets, err error) {
	deadline := time.Now().Add(offsetsSettle)
	for {
		starts, err = b.adm.ListStartOffsets(ctx, names...)
		if err == nil {
			ends, err = b.adm.ListEndOffsets(ctx, names...)
		}
		// The broker asked may not have applied the topic's creation yet:
		// the topic is known (described from metadata), so ask again.
		if err != nil && !(errors.Is(err, kerr.UnknownTopicOrPartition) && time.Now().Before(deadline)) {
			return nil, nil, fmt.Errorf("backend: list offsets: %w", err)
		}
		if err == nil && (!offsetsMissing(topics, starts, ends) || time.Now().After(deadline)) {
			return starts, ends, nil
		}
		select {
		case <-ctx.Done():
			return starts, ends, nil
		case <-time.After(adminPoll):
		}
	}
}

// offsetsMissing says whether a partition with a leader lacks its start or
// end offset.
func offsetsMissing(topics map[string]*topicState, starts, ends kadm.ListedOffsets) bool {
	for name, ts := range topics {
		for i, p := range ts.parts {
			if p.leader < 0 {
				continue
			}
			for _, l := range []kadm.ListedOffsets{starts, ends} {
				if o, ok := l.Lookup(name, int32(i)); !ok || o.Err != nil {
					return true
				}
			}
		}
	}
	return false
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// AlterTopic raises the partition count and/or changes configs (a nil value
// deletes the key, restoring its default), then returns the topic described.
// A lower partition count is a 409 and nothing changes; the same count is no
// change. The partition change is checked by the brokers before the configs
// are changed, so a refused request changes nothing.
func (b *Backend) AlterTopic(ctx context.Context, name string, change TopicChange) (TopicInfo, error) {
	ts, err := b.topic(ctx, name, true)
	if err != nil {
		return TopicInfo{}, err
	}
	grow := int32(0)
	if change.Partitions != nil {
		n := *change.Partitions
		switch {
		case n < ts.meta.Partitions:
			return TopicInfo{}, apierr.New(http.StatusConflict, apierr.CodeConflict,
				"topic %q has %s; partitions can be added but never removed", name, plural.Noun(ts.meta.Partitions, "partition"))
		case n > ts.meta.Partitions:
			grow = n
			resps, err := b.adm.ValidateUpdatePartitions(ctx, int(n), name)
			if err := partitionsError(resps, err, name); err != nil {
				return TopicInfo{}, err
			}
		}
	}
	if len(change.Config) > 0 {
		alters := make([]kadm.AlterConfig, 0, len(change.Config))
		for k, v := range change.Config {
			op := kadm.SetConfig
			if v == nil {
				op = kadm.DeleteConfig
			}
			alters = append(alters, kadm.AlterConfig{Op: op, Name: k, Value: v})
		}
		sort.Slice(alters, func(i, j int) bool { return alters[i].Name < alters[j].Name })
		resps, err := b.adm.AlterTopicConfigs(ctx, alters, name)
		if err != nil {
			return TopicInfo{}, apiError(fmt.Errorf("backend: alter configs: %w", err), topicScope(name))
		}
		for _, r := range resps {
			if r.Err != nil {
				return TopicInfo{}, apiError(withMessage(r.Err, &r.ErrMessage), topicScope(name))
			}
		}
	}
	if grow > 0 {
		resps, err := b.adm.UpdatePartitions(ctx, int(grow), name)
		if err := partitionsError(resps, err, name); err != nil {
			return TopicInfo{}, err
		}
		if err := b.waitForLeaders(ctx, name, grow); err != nil {
			return TopicInfo{}, err
		}
		for _, p := range b.producerClients() {
			p.ForceMetadataRefresh()
		}
	}
	return b.describeTopic(ctx, name, offsetsSettle)
}

func partitionsError(resps kadm.CreatePartitionsResponses, err error, name string) error {
	if err != nil {
		return apiError(fmt.Errorf("backend: create partitions: %w", err), topicScope(name))
	}
	r, ok := resps[name]
	if !ok {
		return apiError(errors.New("backend: create partitions: the topic is missing from the answer"), topicScope(name))
	}
	if r.Err != nil {
		return apiError(withMessage(r.Err, &r.ErrMessage), topicScope(name))
	}
	return nil
}

// DeleteTopic deletes a topic and its events.
func (b *Backend) DeleteTopic(ctx context.Context, name string) error {
	if err := checkTopicName(name); err != nil {
		return err
	}
	if err := b.live(); err != nil {
		return apiError(err, topicScope(name))
	}
	resp, err := b.adm.DeleteTopic(ctx, name)
	b.meta.drop(name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return apiError(withMessage(err, &resp.ErrMessage), topicScope(name))
	}
	return nil
}

// producerClients returns the producers made so far.
func (b *Backend) producerClients() []*kgo.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*kgo.Client
	for _, p := range b.producers {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}
