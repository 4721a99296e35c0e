package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/twmb/franz-go/pkg/kerr"
)

// remoteReadTimeout bounds one read of a remote segment within a request:
// a store that hangs gets the client KAFKA_STORAGE_ERROR, not a stuck fetch.
const remoteReadTimeout = 30 * time.Second

// Reads below the local log start.
//
// A partition of a tiered topic is two logs end to end: its remote segments
// (metadata Partition.RemoteSegments, from RemoteStart) and the local log
// (from its log start). A consumer's Fetch at an offset the local log no
// longer holds, at or above the remote start, is answered from the remote
// segment holding it (tiering.Reader: whole, checked batches, through the
// chunk cache); below the remote start it is OFFSET_OUT_OF_RANGE with the
// remote start as the log start. The read runs in the request's goroutine
// without any partition lock, so other readers and appends proceed.
//
// Followers are not served from the bucket: a follower fetching below the
// leader's local log start gets OFFSET_OUT_OF_RANGE with the leader's local
// log start and restarts its log there (as before tiering), because a
// replica only ever needs the local part; the remote part is shared by all
// replicas through the metadata. This is Runnel's simpler alternative to
// KIP-405's OFFSET_MOVED_TO_TIERED_STORAGE, which rebuilds the follower's
// auxiliary state from the remote segments.

// newRemoteReader returns the reader of remote segments, nil when tiering is
// off. Without a Tier.CacheDir the chunk cache lives beside the data
// directory, in DataDir+"-tier-cache": on the broker's disk, kept across
// restarts, and outside DataDir, whose size is the partitions' local data.
func newRemoteReader(cfg Config) (*tiering.Reader, error) {
	if cfg.Tier.Store == nil {
		return nil, nil
	}
	dir := cfg.Tier.CacheDir
	if dir == "" {
		dir = DefaultTierCacheDir(cfg.DataDir)
	}
	r, err := tiering.NewReader(cfg.Tier.Store, tiering.ReaderOptions{
		CacheDir: dir, CacheBytes: cfg.Tier.CacheBytes,
		Logger: cfg.Logger.With("component", "tier-read"), Metrics: cfg.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("tiered storage: %w", err)
	}
	return r, nil
}

// DefaultTierCacheDir is where a broker whose data directory is dataDir
// caches chunks of remote segments when TierConfig.CacheDir is empty.
func DefaultTierCacheDir(dataDir string) string {
	return filepath.Clean(dataDir) + "-tier-cache"
}

// closeRemoteReader closes r, if any (it removes a cache directory it made).
func closeRemoteReader(r *tiering.Reader) {
	if r != nil {
		r.Close()
	}
}

// remotePartition returns the metadata of p when it has remote segments and
// this broker reads them.
func (b *Broker) remotePartition(img *metadata.Image, p *partition) (metadata.Partition, bool) {
	if b.remote == nil {
		return metadata.Partition{}, false
	}
	mp, ok := img.Partition(p.topicID, p.tp.Partition)
	if !ok || len(mp.RemoteSegments) == 0 {
		return metadata.Partition{}, false
	}
	return mp, true
}

// logStartOffset is the partition's log start for clients: the remote start
// when it has remote segments, else the local log start.
func logStartOffset(mp metadata.Partition, local int64) int64 {
	if start, ok := mp.RemoteStart(); ok {
		return min(start, local)
	}
	return local
}

// fetchRead reads a partition for Fetch: the local log, and for a consumer
// (not a follower) of a partition with remote segments the remote segment
// holding an offset below the local log start. res carries the offsets to
// report (its LogStartOffset the remote start when there are remote
// segments); remote holds the batches read from the bucket, when any.
func (b *Broker) fetchRead(ctx context.Context, img *metadata.Image, p *partition, offset, maxBytes int64, bound commitlog.Bound, consumer bool) (res commitlog.ReadResult, remote []byte, err error) {
	res, err = p.log.Read(offset, maxBytes, bound)
	if !consumer {
		return res, nil, err
	}
	mp, tiered := b.remotePartition(img, p)
	if !tiered {
		return res, nil, err
	}
	var oor *commitlog.OffsetOutOfRangeError
	if err == nil {
		res.LogStartOffset = logStartOffset(mp, res.LogStartOffset)
		return res, nil, nil
	}
	if !errors.As(err, &oor) {
		return res, nil, err
	}
	if offset >= oor.LogStartOffset { // past the end: the start reported is the remote one
		return res, nil, &commitlog.OffsetOutOfRangeError{Offset: offset, LogStartOffset: logStartOffset(mp, oor.LogStartOffset), LogEndOffset: oor.LogEndOffset}
	}
	o := p.log.Offsets()
	start := logStartOffset(mp, o.LogStart)
	if offset < start {
		return res, nil, &commitlog.OffsetOutOfRangeError{Offset: offset, LogStartOffset: start, LogEndOffset: o.LogEnd}
	}
	remote, err = b.readRemote(ctx, mp, offset, maxBytes)
	if err != nil {
		return commitlog.ReadResult{HighWatermark: o.HighWatermark, LogStartOffset: start, LogEndOffset: o.LogEnd}, nil, err
	}
	if len(remote) == 0 {
		// The remote segments end below the local log start (nothing
		// recorded for the offsets between): the local log goes on.
		res, err = p.log.Read(o.LogStart, maxBytes, bound)
		res.LogStartOffset = start
		return res, nil, err
	}
	return commitlog.ReadResult{HighWatermark: o.HighWatermark, LogStartOffset: start, LogEndOffset: o.LogEnd, NextOffset: offset}, remote, nil
}

// readRemote reads the batches from offset on of the first remote segment
// of mp that holds offset or later ones, nothing when none does, under
// remoteReadTimeout.
func (b *Broker) readRemote(ctx context.Context, mp metadata.Partition, offset, maxBytes int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteReadTimeout)
	defer cancel()
	for _, seg := range mp.RemoteSegments {
		if seg.EndOffset < offset {
			continue
		}
		res, err := b.remote.Read(ctx, seg, max(offset, seg.BaseOffset), maxBytes)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("read from tiered storage failed", "key", seg.ObjectKey, "offset", offset, "error", err)
			}
			return nil, remoteErr(err)
		}
		if len(res.Batches) > 0 {
			return res.Batches, nil
		}
		offset = res.NextOffset // compacted away before upload: the next segment
	}
	return nil, nil
}

// remoteErr gives a failed remote read its Kafka error: the store or the
// bucket's bytes failed, which clients retry as KAFKA_STORAGE_ERROR.
func remoteErr(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
}
