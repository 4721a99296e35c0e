package broker

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/tiering"
)

// Why remote data was deleted: the reason label of the deletion metrics.
const (
	reasonRetentionTime  = "retention.ms"
	reasonRetentionBytes = "retention.bytes"
	reasonLogStart       = "log_start"
	reasonTopicDeleted   = "topic_deleted"
	reasonOrphan         = "orphan"
)

// deleteSegmentObjects deletes the objects of the remote segment whose
// recorded ObjectKey is key (its record already removed). An object that
// is already gone counts as deleted; what a failure leaves is an orphan
// for the sweep.
func (t *tierMaint) deleteSegmentObjects(ctx context.Context, key, reason string) error {
	keys := make([]string, len(tiering.SegmentFiles))
	for i, f := range tiering.SegmentFiles {
		keys[i] = tiering.SegmentObject(key, f)
	}
	_, err := t.deleteKeys(ctx, keys, reason)
	return err
}

// deletePrefix deletes every object whose key starts with prefix and
// returns how many it deleted. It goes on past a failed delete and returns
// the failures joined.
func (t *tierMaint) deletePrefix(ctx context.Context, prefix, reason string) (int, error) {
	objs, err := listObjects(ctx, t.store, prefix)
	if err != nil {
		return 0, err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return t.deleteKeys(ctx, keys, reason)
}

// listObjects lists the objects under prefix.
func listObjects(ctx context.Context, s tiering.Store, prefix string) ([]tiering.ObjectInfo, error) {
	var objs []tiering.ObjectInfo
	err := s.List(ctx, prefix, func(o tiering.ObjectInfo) error {
		objs = append(objs, o)
		return nil
	})
	return objs, err
}

// deleteKeys deletes objects and returns how many it deleted, and the
// failures joined.
func (t *tierMaint) deleteKeys(ctx context.Context, keys []string, reason string) (int, error) {
	n := 0
	var errs []error
	for _, k := range keys {
		if err := t.store.Delete(ctx, k); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		n++
		t.metrics.objectsDeleted.WithLabelValues(reason).Inc()
	}
	return n, errors.Join(errs...)
}
