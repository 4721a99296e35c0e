package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// Broker serves the partitions this broker holds over the Kafka protocol. It
// follows the metadata image: it opens a log for every partition it is a
// replica of, leads the ones the image says it leads, and removes the logs of
// partitions it saw go (renamed aside, deleted after the file delete delay).
// A partition whose directory holds data it cannot tie to a topic is refused,
// its files left untouched (ErrPartitionRefused).
type Broker struct {
	cfg    Config
	member Member
	store  logStore
	log    *slog.Logger
	pids   producerIDs

	// reconcileMu serializes reconcile, the only writer of parts and
	// refused. It is held while partitions open, mu only while the maps
	// change: lock order reconcileMu, then mu.
	reconcileMu sync.Mutex
	mu          sync.RWMutex // guards parts and refused
	parts       map[commitlog.TopicPartition]*partition
	// refused are partitions the image gives this broker whose directory
	// holds data without a valid identity (ErrPartitionRefused).
	refused      map[commitlog.TopicPartition]error
	refusedGauge prometheus.Gauge

	// replicas fetches the partitions this broker follows; repMetrics
	// counts replication; isrWake asks runISRChecks to look now.
	replicas   *replicaManager
	repMetrics *replicationMetrics
	isrWake    chan struct{}
	// local counts the requests served in process (HandleLocal).
	local *localMetrics

	// groups is the group coordinator of the __consumer_offsets
	// partitions this broker leads.
	groups *group.Coordinator
	// cleaner compacts the logs of compacted topics (runCleaner, CleanLogs).
	cleaner *logCleaner
	// tier uploads rolled segments of tiered topics; nil without an
	// object store (Config.Tier).
	tier        *tierUploader
	tierMetrics *tierMetrics
	// remote reads remote segments (tier_read.go); nil when tiering is off.
	remote *tiering.Reader
	// tierMaint deletes remote data no longer wanted; nil without
	// tiering.
	tierMaint *tierMaint

	stop chan struct{}
	wg   sync.WaitGroup
}

// New opens the broker's data directory. Call Start to follow the metadata.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	refusedGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "runnel", Subsystem: "broker", Name: "partitions_refused",
		Help: "Partitions not opened because their directory holds data without a valid partition.metadata; their files are kept.",
	})
	repMetrics := newReplicationMetrics()
	cleaner, err := newLogCleaner(cfg.Cleaner)
	if err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	if cfg.Metrics != nil {
		if err := cfg.Metrics.Register(refusedGauge); err != nil {
			return nil, fmt.Errorf("broker metrics: %w", err)
		}
	}
	remote, err := newRemoteReader(cfg)
	if err != nil {
		if cfg.Metrics != nil {
			cfg.Metrics.Unregister(refusedGauge)
		}
		return nil, err
	}
	store, err := commitlog.OpenStoreWith(cfg.DataDir, commitlog.StoreOptions{Logger: cfg.Logger, FileDeleteDelay: cfg.FileDeleteDelay})
	if err != nil {
		if cfg.Metrics != nil {
			cfg.Metrics.Unregister(refusedGauge)
		}
		closeRemoteReader(remote)
		return nil, err
	}
	b := &Broker{
		cfg: cfg, member: cfg.Member, store: store, log: cfg.Logger,
		parts:   map[commitlog.TopicPartition]*partition{},
		refused: map[commitlog.TopicPartition]error{}, refusedGauge: refusedGauge,
		repMetrics: repMetrics, isrWake: make(chan struct{}, 1), cleaner: cleaner, remote: remote, local: newLocalMetrics(),
		stop: make(chan struct{}),
	}
	b.replicas = newReplicaManager(b)
	gcfg := cfg.Groups
	gcfg.LogEnd = b.groupLogEnd
	gcfg.Topics = b.groupTopics
	if b.groups, err = group.New(gcfg, groupLog{b}); err != nil {
		store.Close()
		closeRemoteReader(remote)
		return nil, err
	}
	if err := b.initTier(); err != nil {
		b.groups.Close()
		store.Close()
		return nil, fmt.Errorf("broker config: %w", err)
	}
	b.pids.member = cfg.Member
	b.pids.brokerID = cfg.BrokerID
	if cfg.Metrics != nil {
		for _, c := range append(append(append(repMetrics.collectors(), cleaner.collectors()...), b.local.collectors()...), newStorageCollector(b), replicationCollector{b}) {
			if err := cfg.Metrics.Register(c); err != nil {
				b.groups.Close()
				store.Close()
				closeRemoteReader(remote)
				return nil, fmt.Errorf("broker metrics: %w", err)
			}
		}
	}
	if err := b.startTierMaint(); err != nil {
		b.groups.Close()
		store.Close()
		return nil, err
	}
	return b, nil
}

// Start applies the current metadata image and keeps following it, and runs
// retention and checkpoints in the background.
func (b *Broker) Start() {
	img, _ := b.member.Watch()
	b.reconcile(img)
	b.syncGroups(img)
	b.wg.Add(3)
	go b.followMetadata()
	go b.runHousekeeping()
	go b.runISRChecks()
	b.startTier()
	if !b.cfg.Cleaner.Disabled {
		b.wg.Add(1)
		go b.runCleaner()
	}
	if b.tierMaint != nil {
		b.wg.Add(1)
		go b.tierMaint.run()
	}
}

// Close stops the background work and closes every log cleanly.
func (b *Broker) Close() error {
	close(b.stop)
	b.wg.Wait()
	b.groups.Close()
	b.replicas.close()
	for _, p := range b.partitionsSorted() {
		p.snapshotProducers()
	}
	if b.cfg.Metrics != nil {
		b.cfg.Metrics.Unregister(b.refusedGauge)
	}
	b.closeTier()
	closeRemoteReader(b.remote)
	return b.store.Close()
}

func (b *Broker) followMetadata() {
	defer b.wg.Done()
	caughtUp := b.member.CaughtUp()
	for {
		img, changed := b.member.Watch()
		b.reconcile(img)
		b.syncGroups(img)
		select {
		case <-changed:
		case <-caughtUp:
			// Partitions waiting for the image to catch up are tried again.
			caughtUp = nil
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

// reconcile brings the local partitions in line with img. A partition is
// removed only when this broker saw it go: it was opened from an earlier
// image and img no longer gives it to this broker (or gives its name to a new
// topic id). A directory found with another topic's id is moved aside only
// once the member has caught up (Member.CaughtUp): before that the image may
// be the older of the two. So a broker that starts before its image has
// caught up never removes data it has not seen go.
//
// Nor does it lead before then: until this process has registered, the
// image's leadership of this broker is its previous incarnation's, which
// the controller takes away at registration (a restarted process cannot
// vouch for what its predecessor acknowledged) and gives back at a new
// epoch. Kafka's broker serves no client before it is registered and
// unfenced; this one answers NOT_LEADER_OR_FOLLOWER for those partitions
// meanwhile (registeredLeadership).
//
// Nothing that touches the disk runs under mu: under it reconcile only takes
// partitions that go out of parts (so no request finds them any more) and,
// at the end, puts the opened ones in. Closing logs, renaming directories,
// opening logs (recovery, producer state) and applying the image to the
// partitions kept happen between, while requests for every other partition
// go on. reconcileMu keeps reconciles from overlapping.
func (b *Broker) reconcile(img *metadata.Image) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	registered := false
	select {
	case <-b.member.CaughtUp():
		registered = true
	default:
	}
	type wanted struct {
		t  *metadata.Topic
		mp metadata.Partition
	}
	var want []wanted
	for _, t := range img.Topics() {
		for _, mp := range t.Partitions {
			if contains(mp.Replicas, b.cfg.BrokerID) {
				want = append(want, wanted{t, mp})
			}
		}
	}
	type removal struct {
		p   *partition
		why string
	}
	type keep struct {
		wanted
		p *partition
	}
	var (
		gone []removal
		kept []keep   // open already, for the same topic id
		open []wanted // to open
	)
	b.mu.Lock()
	wantSet := make(map[commitlog.TopicPartition]bool, len(want))
	for _, w := range want {
		tp := commitlog.TopicPartition{Topic: w.t.Name, Partition: w.mp.Index}
		wantSet[tp] = true
		switch p := b.parts[tp]; {
		case p == nil:
			open = append(open, w)
		case p.topicID != w.t.ID:
			delete(b.parts, tp)
			gone = append(gone, removal{p, "topic recreated"})
			open = append(open, w)
		default:
			kept = append(kept, keep{w, p})
		}
	}
	for tp, p := range b.parts {
		if !wantSet[tp] {
			delete(b.parts, tp)
			gone = append(gone, removal{p, "topic deleted or partition moved away"})
		}
	}
	b.mu.Unlock()

	for _, r := range gone {
		b.remove(r.p, r.why)
	}
	for _, k := range kept {
		if !maps.Equal(k.p.state.Load().config, k.t.Config) {
			if err := k.p.log.SetOptions(logOptions(k.t.Config)); err != nil {
				b.log.Error("apply topic config", "partition", k.p.tp.String(), "error", err)
			}
		}
		k.p.setState(b.cfg.BrokerID, k.t.Config, registeredLeadership(k.mp, b.cfg.BrokerID, registered))
	}
	opened := make([]*partition, len(open))
	errs := make([]error, len(open))
	for i, w := range open {
		tp := commitlog.TopicPartition{Topic: w.t.Name, Partition: w.mp.Index}
		if opened[i], errs[i] = b.openPartition(tp, w.t); errs[i] == nil {
			opened[i].setState(b.cfg.BrokerID, w.t.Config, registeredLeadership(w.mp, b.cfg.BrokerID, registered))
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for i, p := range opened {
		tp := commitlog.TopicPartition{Topic: open[i].t.Name, Partition: open[i].mp.Index}
		if errs[i] != nil {
			b.noteOpenFailureLocked(tp, errs[i])
			continue
		}
		delete(b.refused, tp)
		b.parts[tp] = p
	}
	for tp := range b.refused {
		// A refused partition was never opened: its files stay as they are.
		if !wantSet[tp] {
			delete(b.refused, tp)
		}
	}
	b.refusedGauge.Set(float64(len(b.refused)))
	b.wakeTier()
}

// noteOpenFailureLocked records why a partition the image gives this broker
// could not be opened. Refusals are kept for Ready and logged when they
// first appear or change.
func (b *Broker) noteOpenFailureLocked(tp commitlog.TopicPartition, err error) {
	switch {
	case errors.Is(err, errWaitForMetadata):
		b.log.Debug("open partition", "partition", tp.String(), "reason", err)
	case errors.Is(err, ErrPartitionRefused):
		if old, ok := b.refused[tp]; !ok || old.Error() != err.Error() {
			b.log.Error("partition refused: its files are kept untouched", "partition", tp.String(), "error", err)
		}
		b.refused[tp] = err
	default:
		b.log.Error("open partition", "partition", tp.String(), "error", err)
	}
}

// remove renames the directory of a partition this broker saw go aside,
// after reconcile took it out of parts; the store closes its log and
// removes the directory after the file delete delay.
func (b *Broker) remove(p *partition, why string) {
	b.replicas.unfollow(p)
	name, err := b.store.Delete(p.tp)
	if err != nil {
		b.log.Error("delete partition", "partition", p.tp.String(), "error", err)
		return
	}
	b.log.Info("deleted partition: directory renamed aside, removed after the file delete delay", "partition", p.tp.String(), "reason", why, "renamed_to", name, "delay", b.cfg.FileDeleteDelay)
}

// registeredLeadership is mp as this broker may act on it: before this
// process has registered (registered false), a leadership of self is not
// its own yet, so mp comes back leaderless (reconcile).
func registeredLeadership(mp metadata.Partition, self int32, registered bool) metadata.Partition {
	if !registered && mp.Leader == self {
		mp.Leader = metadata.NoLeader
	}
	return mp
}

// errWaitForMetadata means a partition directory belongs to another topic id
// than the image's, and the image has not caught up yet: the directory may be
// the newer one. The partition is tried again once the member has caught up.
var errWaitForMetadata = errors.New("partition directory belongs to another topic id; waiting for the metadata to catch up")

// openPartition opens the log of tp for topic t: it checks the directory's
// identity (partition.metadata) first, writes it before the log exists, and
// only then opens the log.
func (b *Broker) openPartition(tp commitlog.TopicPartition, t *metadata.Topic) (*partition, error) {
	dir := filepath.Join(b.store.Dir(), tp.String())
	ident := readPartitionIdentity(dir)
	if ident.refused != nil {
		return nil, ident.refused
	}
	if ident.id != uuid.Nil && ident.id != t.ID {
		select {
		case <-b.member.CaughtUp():
		default:
			return nil, errWaitForMetadata
		}
		// The image is caught up and names another topic: the directory's
		// topic was deleted while this broker did not see it.
		name, err := b.store.Delete(tp)
		if err != nil {
			return nil, err
		}
		b.log.Warn("partition directory belongs to an older topic with the same name: renamed aside, removed after the file delete delay",
			"partition", tp.String(), "old_topic_id", ident.id, "topic_id", t.ID, "renamed_to", name, "delay", b.cfg.FileDeleteDelay)
		ident = partitionIdentity{write: true}
	}
	if ident.write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create partition directory: %w", err)
		}
		if err := diskfs.WriteFileAtomic(diskfs.OS{}, filepath.Join(dir, partitionMetadataFile), encodePartitionMetadata(t.ID), 0o644); err != nil {
			return nil, err
		}
	}
	l, err := b.store.Open(tp, logOptions(t.Config))
	if err != nil {
		return nil, err
	}
	p, err := newPartition(tp, t.ID, l, b.log)
	if err != nil {
		return nil, err
	}
	p.self, p.lagMax, p.minISRDefault, p.replicas = b.cfg.BrokerID, b.cfg.ReplicaLagTimeMax, b.cfg.MinInsyncReplicas, b.replicas
	return p, nil
}

// partitionFor returns the local partition, or an error saying why there is
// none: unknown partition, one this broker does not hold, or one it refused
// (ErrPartitionRefused).
func (b *Broker) partitionFor(topic string, index int32) (*partition, error) {
	tp := commitlog.TopicPartition{Topic: topic, Partition: index}
	b.mu.RLock()
	p, refused := b.parts[tp], b.refused[tp]
	b.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	if refused != nil {
		// KAFKA_STORAGE_ERROR with the reason, not an endless NOT_LEADER.
		return nil, refused
	}
	if t, ok := b.member.Image().Topic(topic); ok && index >= 0 && int(index) < len(t.Partitions) {
		return nil, errNotLeader
	}
	return nil, errUnknownPartition
}

// producerIDs hands out idempotent producer ids from blocks the controller
// allocates, unique across the cluster.
type producerIDs struct {
	member interface {
		ControllerClient
		BrokerEpoch() uint64
	}
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
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil {
		return nil, false
	}
	l, ok := p.log.(*commitlog.Log)
	return l, ok
}
