package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// Broker serves the partitions this broker holds over the Kafka protocol. It
// follows the metadata image: it opens a log for every partition it is a
// replica of, leads the ones the image says it leads, and deletes the logs of
// topics it saw deleted.
type Broker struct {
	cfg    Config
	member *raftmeta.Member
	store  *commitlog.Store
	log    *slog.Logger
	pids   producerIDs

	mu    sync.RWMutex // guards parts
	parts map[commitlog.TopicPartition]*partition

	stop chan struct{}
	wg   sync.WaitGroup
}

// New opens the broker's data directory. Call Start to follow the metadata.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	store, err := commitlog.OpenStore(cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg: cfg, member: cfg.Member, store: store, log: cfg.Logger,
		parts: map[commitlog.TopicPartition]*partition{},
		stop:  make(chan struct{}),
	}
	b.pids.member = cfg.Member
	b.pids.brokerID = cfg.BrokerID
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(newStorageCollector(b)); err != nil {
			store.Close()
			return nil, fmt.Errorf("broker metrics: %w", err)
		}
	}
	return b, nil
}

// Start applies the current metadata image and keeps following it, and runs
// retention and checkpoints in the background.
func (b *Broker) Start() {
	img, _ := b.member.Watch()
	b.reconcile(img)
	b.wg.Add(2)
	go b.followMetadata()
	go b.runHousekeeping()
}

// Close stops the background work and closes every log cleanly.
func (b *Broker) Close() error {
	close(b.stop)
	b.wg.Wait()
	b.mu.Lock()
	for _, p := range b.parts {
		p.snapshotProducers()
	}
	b.mu.Unlock()
	return b.store.Close()
}

func (b *Broker) followMetadata() {
	defer b.wg.Done()
	for {
		img, changed := b.member.Watch()
		b.reconcile(img)
		select {
		case <-changed:
		case <-b.stop:
			return
		}
	}
}

func (b *Broker) runHousekeeping() {
	defer b.wg.Done()
	retention := time.NewTicker(b.cfg.RetentionCheckInterval)
	checkpoint := time.NewTicker(b.cfg.CheckpointInterval)
	defer retention.Stop()
	defer checkpoint.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-retention.C:
			if n, err := b.store.ApplyRetention(); err != nil {
				b.log.Error("retention", "error", err)
			} else if n > 0 {
				b.log.Info("retention deleted segments", "segments", n)
			}
		case <-checkpoint.C:
			if err := b.store.Checkpoint(); err != nil {
				b.log.Error("checkpoint", "error", err)
			}
		}
	}
}

// reconcile brings the local partitions in line with img. Only partitions
// opened from an image are ever deleted, so a broker that starts before its
// image has caught up never removes data it has not seen go.
func (b *Broker) reconcile(img *metadata.Image) {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := map[commitlog.TopicPartition]bool{}
	for _, t := range img.Topics() {
		for _, mp := range t.Partitions {
			if !contains(mp.Replicas, b.cfg.BrokerID) {
				continue
			}
			tp := commitlog.TopicPartition{Topic: t.Name, Partition: mp.Index}
			want[tp] = true
			p := b.parts[tp]
			if p != nil && p.topicID != t.ID {
				b.removeLocked(p, "topic recreated")
				p = nil
			}
			if p == nil {
				var err error
				if p, err = b.openPartition(tp, t); err != nil {
					b.log.Error("open partition", "partition", tp.String(), "error", err)
					continue
				}
				b.parts[tp] = p
			} else if !maps.Equal(p.state.Load().config, t.Config) {
				if err := p.log.SetOptions(logOptions(t.Config)); err != nil {
					b.log.Error("apply topic config", "partition", tp.String(), "error", err)
				}
			}
			p.setState(b.cfg.BrokerID, t.Config, mp)
		}
	}
	for tp, p := range b.parts {
		if !want[tp] {
			b.removeLocked(p, "topic deleted or partition moved away")
		}
	}
}

func (b *Broker) removeLocked(p *partition, why string) {
	delete(b.parts, p.tp)
	if err := b.store.Delete(p.tp); err != nil {
		b.log.Error("delete partition", "partition", p.tp.String(), "error", err)
		return
	}
	b.log.Info("deleted partition", "partition", p.tp.String(), "reason", why)
}

// partitionMetadataFile records which topic id a partition directory belongs
// to, so a topic deleted and created again under the same name never serves
// the old data (Kafka's partition.metadata).
const partitionMetadataFile = "partition.metadata"

func (b *Broker) openPartition(tp commitlog.TopicPartition, t *metadata.Topic) (*partition, error) {
	dir := filepath.Join(b.store.Dir(), tp.String())
	if data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile)); err == nil {
		if id := parsePartitionMetadata(data); id != t.ID {
			b.log.Warn("removing data of an older topic with the same name", "partition", tp.String(), "old_topic_id", id, "topic_id", t.ID)
			if err := b.store.Delete(tp); err != nil {
				return nil, err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read partition metadata: %w", err)
	}
	l, err := b.store.Open(tp, logOptions(t.Config))
	if err != nil {
		return nil, err
	}
	meta := fmt.Sprintf("version: 0\ntopic_id: %s\n", t.ID)
	if err := commitlog.WriteFileAtomic(filepath.Join(dir, partitionMetadataFile), []byte(meta)); err != nil {
		return nil, err
	}
	return newPartition(tp, t.ID, l, b.log)
}

func parsePartitionMetadata(data []byte) uuid.UUID {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id: "); ok {
			if id, err := uuid.Parse(strings.TrimSpace(v)); err == nil {
				return id
			}
		}
	}
	return uuid.Nil
}

// partitionFor returns the local partition, or an error saying why there is
// none: unknown partition, or one this broker does not hold.
func (b *Broker) partitionFor(topic string, index int32) (*partition, error) {
	b.mu.RLock()
	p := b.parts[commitlog.TopicPartition{Topic: topic, Partition: index}]
	b.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	if t, ok := b.member.Image().Topic(topic); ok && index >= 0 && int(index) < len(t.Partitions) {
		return nil, errNotLeader
	}
	return nil, errUnknownPartition
}

// producerIDs hands out idempotent producer ids from blocks the controller
// allocates, unique across the cluster.
type producerIDs struct {
	member   *raftmeta.Member
	brokerID int32
	mu       sync.Mutex
	next     int64
	left     int32
}

func (a *producerIDs) allocate(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.left == 0 {
		block, err := a.member.AllocateProducerIDs(ctx, controller.AllocateProducerIDsRequest{BrokerID: a.brokerID, BrokerEpoch: a.member.BrokerEpoch()})
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		a.next, a.left = block.First, block.Count
	}
	id := a.next
	a.next++
	a.left--
	return id, nil
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Log returns the open log of a partition this broker holds (for tools and
// tests).
func (b *Broker) Log(tp commitlog.TopicPartition) (*commitlog.Log, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	p, ok := b.parts[tp]
	if !ok {
		return nil, false
	}
	return p.log, true
}
