package broker

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// remoteExpiry is one remote segment remote retention deletes, and why.
type remoteExpiry struct {
	seg    metadata.RemoteSegment
	reason string
}

// remoteRetention is what bounds a partition's whole log, remote part
// included (KIP-405): retention.ms and retention.bytes, not the
// local.retention.* that bound its local copy. A bound <= 0 is none.
type remoteRetention struct {
	ms, bytes int64
	off       bool // cleanup.policy=compact alone: nothing is deleted
}

// remoteRetentionOf reads a topic's config as logOptions does (unset
// retention.ms is the default, -1 none; unset or -1 retention.bytes none).
func remoteRetentionOf(cfg map[string]string) remoteRetention {
	r := remoteRetention{ms: commitlog.DefaultRetentionTime.Milliseconds()}
	if n, ok := configInt(cfg, metadata.ConfigRetentionMs); ok && n != 0 {
		r.ms = n
	}
	if n, ok := configInt(cfg, metadata.ConfigRetentionBytes); ok {
		r.bytes = n
	}
	if deletes, _, ok := metadata.CleanupPolicy(cfg[metadata.ConfigCleanupPolicy]); ok && !deletes {
		r.off = true
	}
	return r
}

// remoteRetentionPlan chooses the remote segments of mp to delete, whole
// and oldest first, as Kafka's remote log manager does (KIP-405):
//   - every segment wholly below the remote log start (DeleteRecords);
//   - then, while the oldest one's largest timestamp is older than
//     retention.ms, or the partition is larger than retention.bytes
//     without it.
//
// The partition's size is retention.bytes' "total": the remote segments'
// sizes plus the local segments not uploaded yet (those whose base offset
// is past the last remote offset), so that a segment held both locally and
// remotely counts once. It stops at the first segment that stays.
// local lists the leader's local segments; nowMs is the clock.
func remoteRetentionPlan(mp metadata.Partition, local []commitlog.SegmentInfo, r remoteRetention, nowMs int64) []remoteExpiry {
	if len(mp.RemoteSegments) == 0 || r.off {
		return nil
	}
	var size, remoteEnd int64 = 0, -1
	for _, s := range mp.RemoteSegments {
		size += s.Size
		remoteEnd = max(remoteEnd, s.EndOffset)
	}
	for _, s := range local {
		if s.BaseOffset > remoteEnd {
			size += s.Size
		}
	}
	var out []remoteExpiry
	for _, s := range mp.RemoteSegments {
		reason := ""
		switch {
		case s.EndOffset < mp.RemoteLogStart:
			reason = reasonLogStart
		case r.ms > 0 && s.MaxTimestamp >= 0 && nowMs-s.MaxTimestamp > r.ms:
			reason = reasonRetentionTime
		case r.bytes > 0 && size-s.Size >= r.bytes:
			reason = reasonRetentionBytes
		default:
			return out
		}
		out = append(out, remoteExpiry{s, reason})
		size -= s.Size
	}
	return out
}

// applyRetention applies remote retention to every partition this broker
// leads; a partition's failure is logged and tried again next time.
func (t *tierMaint) applyRetention(ctx context.Context) {
	img := t.b.member.Image()
	now := t.now().UnixMilli()
	for _, p := range t.b.partitionsSorted() {
		st := p.state.Load()
		if !st.isLeader {
			continue
		}
		mp, ok := img.Partition(p.topicID, p.tp.Partition)
		if !ok || mp.Leader != t.b.cfg.BrokerID || len(mp.RemoteSegments) == 0 {
			continue
		}
		plan := remoteRetentionPlan(mp, p.log.Segments(), remoteRetentionOf(st.config), now)
		for _, e := range plan {
			if err := t.removeSegment(ctx, p, mp, e); err != nil {
				t.log.Warn("remote retention", "partition", p.tp.String(), "segment", e.seg.ObjectKey, "error", err)
				break
			}
		}
	}
}

// removeSegment deletes one remote segment of a partition this broker
// leads in mp's leader epoch: first its record (so that no reader is sent
// to it any more), then its objects. A record already removed is fine; a
// failure to delete the objects leaves orphans, which the sweep deletes.
func (t *tierMaint) removeSegment(ctx context.Context, p *partition, mp metadata.Partition, e remoteExpiry) error {
	err := t.b.member.RemoveRemoteSegment(ctx, controller.RemoteSegmentRequest{
		TopicID: p.topicID, Partition: p.tp.Partition, Segment: e.seg,
		BrokerID: t.b.cfg.BrokerID, LeaderEpoch: mp.LeaderEpoch,
	})
	if err != nil && !errors.Is(err, metadata.ErrUnknownRemoteSegment) {
		return err
	}
	t.metrics.segmentsDeleted.WithLabelValues(e.reason).Inc()
	t.log.Info("deleted remote segment", "partition", p.tp.String(), "base", e.seg.BaseOffset, "end", e.seg.EndOffset, "bytes", e.seg.Size, "reason", e.reason, "key", e.seg.ObjectKey)
	if err := t.deleteSegmentObjects(ctx, e.seg.ObjectKey, e.reason); err != nil {
		t.log.Warn("remote segment forgotten but its objects not all deleted; the orphan sweep will", "partition", p.tp.String(), "key", e.seg.ObjectKey, "error", err)
	}
	return nil
}
