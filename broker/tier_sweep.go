package broker

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// segmentPrefixOf returns the remote segment prefix (the ObjectKey a
// record names) of an object key under the cluster prefix, and false for a
// key that is not a segment's file: such objects are never deleted by the
// sweep, only reported by verify.
func segmentPrefixOf(clusterPrefix, key string) (tiering.SegmentKey, string, bool) {
	k, file, err := tiering.ParseSegmentKey(clusterPrefix, key)
	if err != nil || file == "" {
		return tiering.SegmentKey{}, "", false
	}
	return k, strings.TrimSuffix(key, "/"+file), true
}

// recordedKeys is the set of remote segment prefixes p's records name.
func recordedKeys(p metadata.Partition) map[string]bool {
	named := make(map[string]bool, len(p.RemoteSegments))
	for _, s := range p.RemoteSegments {
		named[s.ObjectKey] = true
	}
	return named
}

// oldEnough reports whether an object is past the grace period: an object
// younger than it may be an upload whose record is still on its way.
func (t *tierMaint) oldEnough(o tiering.ObjectInfo, now time.Time) bool {
	return !o.ModTime.IsZero() && now.Sub(o.ModTime) > t.grace
}

// sweep deletes orphans: under each partition this broker leads, the
// objects of segments no record names, and, on the sweeping broker
// (sweepsCluster), the objects of topics the image no longer has. Only
// objects older than the grace period go. The image is read after the
// listing, so a record committed before the listing is seen.
func (t *tierMaint) sweep(ctx context.Context) {
	now := t.now()
	prefix := t.prefix()
	if prefix == "" {
		return // no cluster id yet
	}
	for _, top := range t.b.member.Image().Topics() {
		for _, p := range top.Partitions {
			if p.Leader != t.b.cfg.BrokerID {
				continue
			}
			if n, err := t.sweepPartition(ctx, prefix, top.ID, p.Index, now); err != nil {
				t.log.Warn("orphan sweep", "topic", top.Name, "partition", p.Index, "deleted", n, "error", err)
			} else if n > 0 {
				t.log.Info("orphan sweep deleted objects no record names", "topic", top.Name, "partition", p.Index, "objects", n)
			}
		}
	}
	if !t.sweepsCluster() {
		return
	}
	if n, err := t.sweepDeletedTopics(ctx, prefix, now); err != nil {
		t.log.Warn("orphan sweep of deleted topics", "deleted", n, "error", err)
	} else if n > 0 {
		t.log.Info("orphan sweep deleted objects of topics that no longer exist", "objects", n)
	}
}

// sweepPartition deletes the orphans of one partition.
func (t *tierMaint) sweepPartition(ctx context.Context, prefix string, topicID uuid.UUID, partition int32, now time.Time) (int, error) {
	objs, err := listObjects(ctx, t.store, tiering.PartitionPrefix(prefix, topicID, partition))
	if err != nil {
		return 0, err
	}
	mp, ok := t.b.member.Image().Partition(topicID, partition)
	if !ok {
		return 0, nil // deleted meanwhile: the topic's deletion takes it all
	}
	named := recordedKeys(mp)
	var orphans []string
	for _, o := range objs {
		if _, seg, ok := segmentPrefixOf(prefix, o.Key); ok && !named[seg] && t.oldEnough(o, now) {
			orphans = append(orphans, o.Key)
		}
	}
	return t.deleteKeys(ctx, orphans, reasonOrphan)
}

// sweepsCluster reports whether this broker sweeps the objects of deleted
// topics: the unfenced broker with the lowest id does, once its image has
// caught up (an image behind could miss a new topic).
func (t *tierMaint) sweepsCluster() bool {
	select {
	case <-t.b.member.CaughtUp():
	default:
		return false
	}
	for _, br := range t.b.member.Image().Brokers() {
		if !br.Fenced {
			return br.ID == t.b.cfg.BrokerID
		}
	}
	return false
}

// sweepDeletedTopics deletes the objects, older than the grace period, of
// topic ids the image does not have: deleted topics whose objects the
// brokers that led them did not get to delete.
func (t *tierMaint) sweepDeletedTopics(ctx context.Context, prefix string, now time.Time) (int, error) {
	objs, err := listObjects(ctx, t.store, clusterListPrefix(prefix))
	if err != nil {
		return 0, err
	}
	img := t.b.member.Image()
	var orphans []string
	for _, o := range objs {
		k, _, ok := segmentPrefixOf(prefix, o.Key)
		if !ok || !t.oldEnough(o, now) {
			continue
		}
		if _, exists := img.TopicByID(k.TopicID); !exists {
			orphans = append(orphans, o.Key)
		}
	}
	return t.deleteKeys(ctx, orphans, reasonOrphan)
}

// clusterListPrefix is the list prefix of every object of the cluster.
func clusterListPrefix(clusterPrefix string) string {
	if clusterPrefix == "" {
		return ""
	}
	return strings.TrimSuffix(clusterPrefix, "/") + "/"
}
