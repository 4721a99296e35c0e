package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/idemwindow"
	"github.com/runnel-dev/runnel/broker/producerstate"
)

// partitionLog is what a partition and the handlers need of its log:
// *commitlog.Log implements it, the follower's side of replication
// included.
type partitionLog interface {
	producerstate.HeaderScanner // the producer state is rebuilt from the log
	idemwindow.Log              // and so are the recent Idempotency-Keys

	// AppendBatches appends produced batches, validated by the broker.
	AppendBatches(batches []commitlog.ValidBatch, leaderEpoch int32, infos []commitlog.AppendInfo) (int, error)
	// ActiveSegmentBase changes when the log rolls.
	ActiveSegmentBase() int64
	// Size is the bytes of all its segments (DescribeLogDirs).
	Size() int64
	// Segments lists its segments, oldest first.
	Segments() []commitlog.SegmentInfo

	Read(offset, maxBytes int64, bound commitlog.Bound) (commitlog.ReadResult, error)
	MaxTimestamp() (ts, offset int64, found bool)
	OffsetForTimestamp(ts int64, bound commitlog.Bound) (offset, timestamp int64, found bool, err error)
	EndOffsetForEpoch(epoch int32) (int32, int64)
	LatestEpoch() int32

	SetHighWatermark(hw int64)
	AdvanceHighWatermark(hw int64) bool
	WatchHighWatermark() (int64, <-chan struct{}, error)
	WaitForHighWatermark(ctx context.Context, offset int64) error
	WaitForEnd(ctx context.Context, offset int64) error

	// The follower's side: batches as the leader wrote them, and the cuts
	// that match the log to the leader's.
	AppendReplica(batches []byte) (commitlog.AppendInfo, error)
	TruncateTo(offset int64) error
	TruncateFullyAndStartAt(offset int64) error
	AssignLeaderEpoch(epoch int32) error
	DeleteRecordsBefore(offset int64) (int64, error)
	SetOptions(opts commitlog.Options) error

	StorageError() error
	WriteFailures() int64
	UnreadableRanges() []commitlog.UnreadableRange
}

var _ partitionLog = (*commitlog.Log)(nil)

// logStore is the broker's data directory: the partition logs and the
// checkpoints across them. *commitlog.Store implements it.
type logStore interface {
	Dir() string
	// Open opens (creating) a partition's log; it may read and check the
	// whole log, so the broker never calls it under its lock.
	Open(tp commitlog.TopicPartition, opts commitlog.Options) (*commitlog.Log, error)
	// Delete closes a partition's log and renames its directory aside.
	Delete(tp commitlog.TopicPartition) (string, error)
	Checkpoint() error
	ApplyRetention() (int, error)
	Close() error
}

var _ logStore = (*commitlog.Store)(nil)
