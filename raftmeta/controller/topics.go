package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/runnel-dev/runnel/raftmeta/metadata"

	"github.com/runnel-dev/runnel/internal/plural"
)

// checkConfig refuses unknown keys and bad values of known ones.
func checkConfig(cfg map[string]string) error {
	keys := slices.Sorted(maps.Keys(cfg))
	for _, k := range keys {
		if !metadata.KnownConfig(k) {
			return fmt.Errorf("%w: unknown topic config %q", metadata.ErrInvalidConfig, k)
		}
		if err := metadata.ValidateConfigValue(k, cfg[k]); err != nil {
			return err
		}
	}
	return nil
}

// CreateTopic creates a topic with its replicas placed across the unfenced
// brokers (see placer) and returns it as committed.
func (c *Controller) CreateTopic(ctx context.Context, req CreateTopicRequest) (*metadata.Topic, error) {
	if err := metadata.ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	if err := checkConfig(req.Config); err != nil {
		return nil, err
	}
	if req.Partitions < 1 || req.Partitions > metadata.MaxPartitions {
		return nil, fmt.Errorf("%w: %d partitions, want 1..%d", metadata.ErrInvalidPartitions, req.Partitions, metadata.MaxPartitions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return nil, err
	}
	img := c.image()
	if _, ok := img.Topic(req.Name); ok {
		return nil, fmt.Errorf("%w: %q", metadata.ErrTopicExists, req.Name)
	}
	parts, err := newPlacer(unfencedBrokers(img)).place(int(req.Partitions), int(req.ReplicationFactor), partitionCount(img))
	if err != nil {
		return nil, err
	}
	id := c.cfg.NewTopicID()
	rec := metadata.Record{TopicCreated: &metadata.TopicCreated{Name: req.Name, ID: id, Config: req.Config, Partitions: parts}}
	if _, err := c.proposeLocked(ctx, rec); err != nil {
		return nil, err
	}
	t, ok := c.image().TopicByID(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q deleted right after creation", metadata.ErrUnknownTopic, req.Name)
	}
	c.log.Info("topic created", "topic", req.Name, "id", id, "partitions", req.Partitions, "rf", req.ReplicationFactor)
	return t, nil
}

// DeleteTopic deletes a topic.
func (c *Controller) DeleteTopic(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	t, ok := c.image().Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, name)
	}
	_, err := c.proposeLocked(ctx, metadata.Record{TopicDeleted: &metadata.TopicDeleted{ID: t.ID}})
	return err
}

// CreatePartitions raises a topic's partition count to req.Count, placing
// the new partitions like CreateTopic does. The count can only grow.
func (c *Controller) CreatePartitions(ctx context.Context, req CreatePartitionsRequest) (*metadata.Topic, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return nil, err
	}
	img := c.image()
	t, ok := img.Topic(req.Name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, req.Name)
	}
	have := int32(len(t.Partitions))
	if req.Count <= have || req.Count > metadata.MaxPartitions {
		return nil, fmt.Errorf("%w: topic %q has %s; the new count %d must be larger and at most %d", metadata.ErrInvalidPartitions, req.Name, plural.Noun(have, "partition"), req.Count, metadata.MaxPartitions)
	}
	parts, err := newPlacer(unfencedBrokers(img)).place(int(req.Count-have), t.ReplicationFactor(), partitionCount(img))
	if err != nil {
		return nil, err
	}
	rec := metadata.Record{PartitionsCreated: &metadata.PartitionsCreated{ID: t.ID, From: have, Partitions: parts}}
	if _, err := c.proposeLocked(ctx, rec); err != nil {
		return nil, err
	}
	t, ok = c.image().TopicByID(t.ID)
	if !ok {
		return nil, fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, req.Name)
	}
	return t, nil
}

// AlterConfigs sets and deletes config keys of a topic. Set keys must be
// known (metadata.KnownConfig) with valid values; any key may be deleted.
func (c *Controller) AlterConfigs(ctx context.Context, req AlterConfigsRequest) error {
	if err := checkConfig(req.Set); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	img := c.image()
	t, ok := img.Topic(req.Name)
	if !ok {
		return fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, req.Name)
	}
	recs := []metadata.Record{{TopicConfigChanged: &metadata.TopicConfigChanged{ID: t.ID, Set: req.Set, Delete: req.Delete}}}
	// Enabling unclean election takes effect at once for leaderless
	// partitions, as in Kafka.
	after, err := img.Apply(img.Version()+1, metadata.Batch{Records: recs})
	if err != nil {
		return err
	}
	if at, _ := after.TopicByID(t.ID); at.UncleanLeaderElection() && !t.UncleanLeaderElection() {
		for _, p := range at.Partitions {
			if p.Leader != metadata.NoLeader {
				continue
			}
			if leader, isr := c.elect(after, at, p.Replicas, c.liveISR(after, p.ISR)); leader != metadata.NoLeader {
				recs = append(recs, change(at, p, leader, isr))
			}
		}
	}
	_, err = c.proposeLocked(ctx, recs...)
	return err
}

// AllocateProducerIDs hands a broker the next block of producer ids. Blocks
// never overlap: each is committed against the image's next producer id.
func (c *Controller) AllocateProducerIDs(ctx context.Context, req AllocateProducerIDsRequest) (ProducerIDBlock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return ProducerIDBlock{}, err
	}
	img := c.image()
	if err := checkBrokerEpoch(img, req.BrokerID, req.BrokerEpoch); err != nil {
		return ProducerIDBlock{}, err
	}
	block := ProducerIDBlock{First: img.NextProducerID(), Count: c.cfg.ProducerIDBlockSize}
	rec := metadata.Record{ProducerIDsAllocated: &metadata.ProducerIDsAllocated{BrokerID: req.BrokerID, First: block.First, Count: block.Count}}
	if _, err := c.proposeLocked(ctx, rec); err != nil {
		return ProducerIDBlock{}, err
	}
	return block, nil
}
