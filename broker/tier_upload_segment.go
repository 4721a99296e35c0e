package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/producerstate"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// uploadSegment copies one rolled segment of p to the store under a fresh
// key, create-only, its log last, then records it in the metadata as
// uploaded by this broker at epoch. The segment's files are held open
// (commitlog.ClosedSegment), not locked: retention may delete them
// meanwhile and the copy still reads them whole.
func (u *tierUploader) uploadSegment(ctx context.Context, p *partition, tl tierLog, epoch int32, info commitlog.SegmentInfo) error {
	seg, err := tl.OpenClosedSegment(info.BaseOffset)
	if err != nil {
		return fmt.Errorf("open segment %d: %w", info.BaseOffset, err)
	}
	defer seg.Release()
	snapAt, snap, err := u.producerSnapshot(p, tl, seg.EndOffset+1)
	if err != nil {
		return err
	}
	prefix := u.prefix()
	if prefix == "" {
		return errors.New("no object key prefix: the metadata has no cluster id yet")
	}
	key := tiering.NewSegmentKey(prefix, p.topicID, p.tp.Partition, seg.BaseOffset, epoch)
	epochs := commitlog.EncodeLeaderEpochCheckpoint(seg.Epochs)
	bodies := map[string]struct {
		r    io.ReaderAt
		size int64
	}{
		tiering.SegmentIndexFile:     {bytes.NewReader(seg.Index), int64(len(seg.Index))},
		tiering.SegmentTimeIndexFile: {bytes.NewReader(seg.TimeIndex), int64(len(seg.TimeIndex))},
		tiering.SegmentEpochsFile:    {bytes.NewReader(epochs), int64(len(epochs))},
		tiering.SegmentProducersFile: {bytes.NewReader(snap), int64(len(snap))},
		tiering.SegmentLogFile:       {seg.Log, seg.Size},
	}
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The small files go at once, one request each in flight; the log
	// only after all of them (tiering.SegmentFiles: a segment whose log
	// exists is complete).
	last := len(tiering.SegmentFiles) - 1
	errs := make([]error, last)
	var wg sync.WaitGroup
	for i, file := range tiering.SegmentFiles[:last] {
		wg.Go(func() {
			b := bodies[file]
			errs[i] = u.put(ctx, key.Object(file), b.r, b.size)
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil {
		b := bodies[tiering.SegmentFiles[last]]
		err = u.put(ctx, key.Object(tiering.SegmentFiles[last]), b.r, b.size)
	}
	<-u.slots
	if err != nil {
		return err
	}
	rs := metadata.RemoteSegment{
		BaseOffset: seg.BaseOffset, EndOffset: seg.EndOffset, ObjectKey: key.String(), Size: seg.Size,
		LeaderEpoch: epoch, MaxTimestamp: seg.MaxTimestamp,
	}
	if err := u.record(ctx, p, rs); err != nil {
		return err
	}
	u.metrics.uploadedSegments.Inc()
	u.log.Info("uploaded segment", "partition", p.tp.String(), "base_offset", rs.BaseOffset, "end_offset", rs.EndOffset,
		"bytes", rs.Size, "key", rs.ObjectKey, "producer_snapshot_offset", snapAt)
	return nil
}

// put writes one object, create-only. A taken key can only be this
// upload's own earlier attempt (the key holds a fresh upload id): it counts
// as written when its size and checksum are this body's.
func (u *tierUploader) put(ctx context.Context, key string, body io.ReaderAt, size int64) error {
	_, err := u.store.Put(ctx, key, body, size)
	if errors.Is(err, tiering.ErrExists) {
		err = u.sameObject(ctx, key, body, size)
	}
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	u.metrics.uploadedBytes.Add(float64(size))
	return nil
}

// sameObject checks that the object at key holds body.
func (u *tierUploader) sameObject(ctx context.Context, key string, body io.ReaderAt, size int64) error {
	info, err := u.store.Stat(ctx, key)
	if err != nil {
		return err
	}
	sum, err := tiering.Checksum(ctx, body, size)
	if err != nil {
		return err
	}
	if info.Size != size || info.CRC32C != sum {
		return fmt.Errorf("%w: holds %d bytes with CRC-32C %08x, the segment's are %d bytes with %08x", tiering.ErrExists, info.Size, info.CRC32C, size, sum)
	}
	return nil
}

// record proposes the uploaded segment, retrying while the controller is
// unreachable. A record that committed on an earlier try
// (ErrRemoteSegmentExists) is done; one the metadata fences (this broker no
// longer leads at the epoch), or finds behind the remote log, leaves the
// objects as orphans for the sweep and stops or moves on.
func (u *tierUploader) record(ctx context.Context, p *partition, rs metadata.RemoteSegment) error {
	req := controller.RemoteSegmentRequest{TopicID: p.topicID, Partition: p.tp.Partition, Segment: rs, BrokerID: u.brokerID}
	for attempt := 1; ; attempt++ {
		err := u.rec.AddRemoteSegment(ctx, req)
		switch {
		case err == nil, errors.Is(err, metadata.ErrRemoteSegmentExists):
			return nil
		case errors.Is(err, metadata.ErrRemoteSegmentBehind):
			u.log.Info("uploaded segment is remote already; its objects are left for the orphan sweep", "partition", p.tp.String(), "key", rs.ObjectKey, "reason", err)
			return nil
		case errors.Is(err, metadata.ErrFencedRemoteUpload), errors.Is(err, metadata.ErrUnknownTopic), errors.Is(err, metadata.ErrUnknownPartition):
			return fmt.Errorf("%w: record segment %s: %v", errStopUpload, rs.ObjectKey, err)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		wait := backoff(attempt)
		u.log.Warn("record uploaded segment failed; retrying", "partition", p.tp.String(), "key", rs.ObjectKey, "error", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
}

// producerSnapshot returns the producer-state snapshot to upload with a
// segment ending before from: the oldest at or above from, which the
// partition wrote when the segment rolled (it covers the batches up to the
// log end of that append, the snapshot's own offset). When the partition
// has none left that new (it keeps two), it takes one now.
func (u *tierUploader) producerSnapshot(p *partition, tl tierLog, from int64) (int64, []byte, error) {
	off, b, err := producerstate.SnapshotAtOrAfter(tl.Dir(), from)
	if errors.Is(err, producerstate.ErrNoSnapshot) {
		p.snapshotProducers()
		off, b, err = producerstate.SnapshotAtOrAfter(tl.Dir(), from)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("producer snapshot for the segment ending before %d: %w", from, err)
	}
	return off, b, nil
}
