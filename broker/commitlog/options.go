package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Defaults for Options, matching Kafka's broker defaults.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentTime        = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
	DefaultMaxIndexBytes      = 10 << 20
	DefaultMaxMessageBytes    = 1048588
	DefaultRetentionTime      = 7 * 24 * time.Hour
	// DefaultDeleteRetention is delete.retention.ms: how long a cleaned
	// tombstone stays readable.
	DefaultDeleteRetention = 24 * time.Hour
	// DefaultMinCleanableDirtyRatio is min.cleanable.dirty.ratio.
	DefaultMinCleanableDirtyRatio = 0.5
)

// Unlimited turns off a size or time limit (retention.ms=-1, retention.bytes=-1).
const Unlimited = -1

// Options configure one partition log. Zero values take the defaults above; the
// names in comments are the Kafka topic configs they implement.
type Options struct {
	// SegmentBytes rolls the active segment before it would grow past this size
	// (segment.bytes). At most 2 GiB - 1, since index positions are 32-bit.
	SegmentBytes int64
	// SegmentTime rolls a non-empty active segment this long after its first append
	// (segment.ms).
	SegmentTime time.Duration
	// IndexIntervalBytes is the number of log bytes between two sparse index entries
	// (index.interval.bytes).
	IndexIntervalBytes int32
	// MaxIndexBytes is the preallocated size of an active segment's index files
	// (segment.index.bytes); a full index rolls the segment.
	MaxIndexBytes int32
	// MaxMessageBytes is the largest batch accepted by Append (max.message.bytes).
	MaxMessageBytes int32
	// RetentionTime deletes closed segments whose largest timestamp is older than
	// this (retention.ms). Unlimited keeps them forever.
	RetentionTime time.Duration
	// RetentionBytes deletes the oldest closed segments while the log is larger than
	// this (retention.bytes). Zero or Unlimited keeps them.
	RetentionBytes int64
	// Tiered keeps every segment not uploaded to remote storage yet:
	// retention (then local.retention.*) deletes only segments whose last
	// offset is at or below the one SetRemoteEnd gave.
	Tiered bool
	// Compact turns on log compaction (cleanup.policy compact or
	// compact,delete): a Cleaner keeps the last record of every key.
	Compact bool
	// CompactOnly is cleanup.policy=compact alone: DeleteExpired applies
	// no time or size retention. It needs Compact.
	CompactOnly bool
	// DeleteRetention keeps tombstones (records with a null value) this
	// long after the cleaner first cleaned them (delete.retention.ms).
	DeleteRetention time.Duration
	// MinCompactionLag keeps records newer than this out of compaction
	// (min.compaction.lag.ms); zero cleans every closed segment.
	MinCompactionLag time.Duration
	// MinCleanableDirtyRatio is the share of the log's cleanable bytes
	// not yet cleaned above which the cleaner cleans it
	// (min.cleanable.dirty.ratio, 0 to 1; zero takes the default 0.5).
	MinCleanableDirtyRatio float64
	// FlushMessages fsyncs the log after this many records (flush.messages). Zero
	// never flushes by count: durability comes from the page cache and replication.
	FlushMessages int64
	// FlushInterval fsyncs the log when unflushed data is this old (flush.ms). Zero
	// never flushes by time.
	FlushInterval time.Duration

	// RecoveryPoint is the offset below which the log is known to be on disk, as
	// read from the store's recovery-point checkpoint. Segments from the one holding
	// it onwards are re-read and checked when CleanShutdown is false.
	RecoveryPoint int64
	// CleanShutdown says the log was closed cleanly: its files are trusted (indexes
	// are still sanity-checked) and nothing is re-read.
	CleanShutdown bool
	// LogStartOffset is the checkpointed log start offset (after DeleteRecords);
	// it is raised to the first segment's base offset when lower.
	LogStartOffset int64
	// HighWatermark is the checkpointed high watermark, clamped to the log on open.
	HighWatermark int64

	// Now is the clock used for segment.ms, retention and flush.ms (time.Now if nil).
	Now func() time.Time
	// FS creates, writes, truncates, fsyncs, renames and removes the log's
	// files (diskfs.OS if nil); tests pass a faultfs.FS to fill the disk or
	// fail the device.
	FS diskfs.FS
	// Logger receives recovery and retention events (slog.Default if nil).
	Logger *slog.Logger
}

// withDefaults returns o with zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentTime == 0 {
		o.SegmentTime = DefaultSegmentTime
	}
	if o.IndexIntervalBytes == 0 {
		o.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if o.MaxIndexBytes == 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.RetentionTime == 0 {
		o.RetentionTime = DefaultRetentionTime
	}
	if o.RetentionBytes == 0 {
		o.RetentionBytes = Unlimited
	}
	if o.DeleteRetention == 0 {
		o.DeleteRetention = DefaultDeleteRetention
	}
	if o.MinCleanableDirtyRatio == 0 {
		o.MinCleanableDirtyRatio = DefaultMinCleanableDirtyRatio
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FS == nil {
		o.FS = diskfs.OS{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate says in plain words what is wrong with o, after defaults are applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.SegmentBytes < 14 || o.SegmentBytes > 1<<31-1 {
		errs = append(errs, fmt.Errorf("segment.bytes %d must be between 14 and %d", o.SegmentBytes, 1<<31-1))
	}
	if o.SegmentTime < 0 {
		errs = append(errs, fmt.Errorf("segment.ms %v must be positive", o.SegmentTime))
	}
	if o.IndexIntervalBytes < 0 {
		errs = append(errs, fmt.Errorf("index.interval.bytes %d must not be negative", o.IndexIntervalBytes))
	}
	if o.MaxIndexBytes < 4*timeIndexEntrySize {
		errs = append(errs, fmt.Errorf("segment.index.bytes %d must be at least %d", o.MaxIndexBytes, 4*timeIndexEntrySize))
	}
	if o.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("max.message.bytes %d must not be negative", o.MaxMessageBytes))
	}
	if o.RetentionTime < 0 && o.RetentionTime != Unlimited {
		errs = append(errs, fmt.Errorf("retention.ms %v must be positive or -1", o.RetentionTime))
	}
	if o.RetentionBytes < 0 && o.RetentionBytes != Unlimited {
		errs = append(errs, fmt.Errorf("retention.bytes %d must be positive or -1", o.RetentionBytes))
	}
	if o.CompactOnly && !o.Compact {
		errs = append(errs, errors.New("compact-only cleanup needs compaction on"))
	}
	if o.DeleteRetention < 0 {
		errs = append(errs, fmt.Errorf("delete.retention.ms %v must not be negative", o.DeleteRetention))
	}
	if o.MinCompactionLag < 0 {
		errs = append(errs, fmt.Errorf("min.compaction.lag.ms %v must not be negative", o.MinCompactionLag))
	}
	if o.MinCleanableDirtyRatio < 0 || o.MinCleanableDirtyRatio > 1 {
		errs = append(errs, fmt.Errorf("min.cleanable.dirty.ratio %v must be between 0 and 1", o.MinCleanableDirtyRatio))
	}
	if o.FlushMessages < 0 {
		errs = append(errs, fmt.Errorf("flush.messages %d must not be negative", o.FlushMessages))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flush.ms %v must not be negative", o.FlushInterval))
	}
	if o.RecoveryPoint < 0 || o.LogStartOffset < 0 || o.HighWatermark < 0 {
		errs = append(errs, errors.New("recovery point, log start offset and high watermark must not be negative"))
	}
	return errors.Join(errs...)
}
