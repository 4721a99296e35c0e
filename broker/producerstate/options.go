package producerstate

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// DefaultExpiration is Kafka's default producer.id.expiration.ms: a producer
// that has written nothing to a partition for a day is forgotten there.
const DefaultExpiration = 24 * time.Hour

// RetainedBatches is how many of a producer's most recent batches are kept
// for duplicate detection. Kafka clients keep at most five requests in flight
// per connection when idempotence is on, so a retried batch is always one of
// the last five the partition accepted from that producer.
const RetainedBatches = 5

// keptSnapshots is how many snapshot files TakeSnapshot leaves on disk: the
// newest, plus one to fall back on when the newest turns out to be damaged.
const keptSnapshots = 2

// Options configure a Manager. The zero value takes the defaults.
type Options struct {
	// Expiration is producer.id.expiration.ms: RemoveExpired drops producers
	// whose last batch is older than this, and Load skips them. Zero means
	// DefaultExpiration.
	Expiration time.Duration
	// Now is the clock Load uses to skip expired producers (time.Now if nil).
	Now func() time.Time
	// Logger receives snapshot and recovery events (slog.Default if nil).
	Logger *slog.Logger
	// FS writes, renames and removes the snapshot files (diskfs.OS if nil);
	// tests pass a faultfs.FS to fail the disk.
	FS diskfs.FS
}

// withDefaults returns o with zero values replaced by the defaults.
func (o Options) withDefaults() Options {
	if o.Expiration == 0 {
		o.Expiration = DefaultExpiration
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = diskfs.OS{}
	}
	return o
}

// Validate says in plain words what is wrong with o, after defaults are
// applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Expiration < time.Millisecond {
		return fmt.Errorf("producer.id.expiration.ms %v must be at least 1ms", o.Expiration)
	}
	return nil
}
