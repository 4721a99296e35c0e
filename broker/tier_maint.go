package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// Defaults of the remote-data housekeeping (TierConfig).
const (
	DefaultTierOrphanGrace   = time.Hour
	DefaultTierSweepInterval = 10 * time.Minute
)

// validate fills the housekeeping defaults of a tiering config.
func (c *TierConfig) validate() error {
	var errs []error
	if c.OrphanGrace == 0 {
		c.OrphanGrace = DefaultTierOrphanGrace
	}
	if c.OrphanGrace < 0 {
		errs = append(errs, fmt.Errorf("tier orphan grace %v must be positive", c.OrphanGrace))
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultTierSweepInterval
	}
	if c.SweepInterval < 0 {
		errs = append(errs, fmt.Errorf("tier sweep interval %v must be positive", c.SweepInterval))
	}
	return errors.Join(errs...)
}

// tierMaint deletes remote data that is no longer wanted: remote segments
// past retention or below the remote log start (by the partition leader,
// record first, objects second), the objects of deleted topics, and
// orphans, objects no record names (an upload whose record never
// committed, a deletion that failed between record and objects).
//
// Everything it does is idempotent, so a step that fails is simply done
// again later: a remote segment whose record is gone but whose objects
// stayed is an orphan, which a sweep finds.
type tierMaint struct {
	b       *Broker
	store   tiering.Store
	prefix  func() string // the cluster's prefix in the store, "" until known
	grace   time.Duration
	log     *slog.Logger
	metrics *tierMaintMetrics
	wake    chan struct{}
	now     func() time.Time // time.Now; tests move it

	mu sync.Mutex
	// led are the topics this broker led a partition of in the last image
	// seen, by id: when one goes from the image, this broker deletes its
	// objects (every broker that led it does; deletes are idempotent).
	led map[uuid.UUID]string
	// gone are deleted topics whose objects are still to be deleted.
	gone map[uuid.UUID]string
}

func newTierMaint(b *Broker, metrics *tierMaintMetrics) *tierMaint {
	return &tierMaint{
		b: b, store: b.cfg.Tier.Store, prefix: b.tierPrefix, grace: b.cfg.Tier.OrphanGrace,
		log: b.log.With("component", "tier"), metrics: metrics, wake: make(chan struct{}, 1),
		now: time.Now, led: map[uuid.UUID]string{}, gone: map[uuid.UUID]string{},
	}
}

// poke asks the housekeeping to apply remote retention now (DeleteRecords
// moved a remote log start); nil (tiering off) does nothing.
func (t *tierMaint) poke() {
	if t == nil {
		return
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run is the housekeeping loop: remote retention every retention check
// interval (and when poked), deleted topics' objects as soon as the image
// says they are gone, orphans every sweep interval.
func (t *tierMaint) run() {
	defer t.b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-t.b.stop
		cancel()
	}()
	retention := time.NewTicker(t.b.cfg.RetentionCheckInterval)
	defer retention.Stop()
	sweep := time.NewTicker(t.b.cfg.Tier.SweepInterval)
	defer sweep.Stop()
	for {
		img, changed := t.b.member.Watch()
		if t.noteImage(img) {
			t.deleteGoneTopics(ctx)
		}
		select {
		case <-t.b.stop:
			return
		case <-changed:
		case <-t.wake:
			t.applyRetention(ctx)
		case <-retention.C:
			t.applyRetention(ctx)
			t.deleteGoneTopics(ctx)
		case <-sweep.C:
			t.sweep(ctx)
		}
	}
}

// noteImage records the topics this broker leads a partition of in img,
// and those it led that img no longer has (deleted); it reports whether
// it found such topics (those whose deletion failed before are retried at
// the retention checks, not at every image).
func (t *tierMaint) noteImage(img *metadata.Image) bool {
	self := t.b.cfg.BrokerID
	led := map[uuid.UUID]string{}
	for _, top := range img.Topics() {
		for _, p := range top.Partitions {
			if p.Leader == self {
				led[top.ID] = top.Name
				break
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	found := false
	for id, name := range t.led {
		if _, ok := img.TopicByID(id); !ok {
			t.gone[id] = name
			found = true
		}
	}
	t.led = led
	return found
}

// deleteGoneTopics deletes every object of the deleted topics noted; a
// topic whose deletion fails stays noted and is tried again at the next
// retention check.
func (t *tierMaint) deleteGoneTopics(ctx context.Context) {
	t.mu.Lock()
	gone := make(map[uuid.UUID]string, len(t.gone))
	for id, name := range t.gone {
		gone[id] = name
	}
	t.mu.Unlock()
	prefix := t.prefix()
	if prefix == "" {
		return
	}
	for id, name := range gone {
		n, err := t.deletePrefix(ctx, tiering.TopicPrefix(prefix, id), reasonTopicDeleted)
		if err != nil {
			t.log.Warn("deleting a deleted topic's remote objects; will retry", "topic", name, "id", id, "deleted", n, "error", err)
			continue
		}
		t.log.Info("deleted a deleted topic's remote objects", "topic", name, "id", id, "objects", n)
		t.mu.Lock()
		delete(t.gone, id)
		t.mu.Unlock()
	}
}

// startTierMaint sets up the remote-data housekeeping when tiering is on
// (Start runs it).
func (b *Broker) startTierMaint() error {
	if b.cfg.Tier.Store == nil {
		return nil
	}
	m := newTierMaintMetrics()
	if b.cfg.Metrics != nil {
		for _, c := range m.collectors(b) {
			if err := b.cfg.Metrics.Register(c); err != nil {
				return fmt.Errorf("broker metrics: %w", err)
			}
		}
	}
	b.tierMaint = newTierMaint(b, m)
	return nil
}
