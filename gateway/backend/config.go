package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults for Config.
const (
	DefaultClientID       = "runnel-gateway"
	DefaultMetadataMaxAge = 10 * time.Second
	DefaultProduceTimeout = 30 * time.Second
	// DefaultLeaderWait is how long a produce waits for a partition that
	// has no leader before it fails.
	DefaultLeaderWait   = 5 * time.Second
	DefaultAdminTimeout = 30 * time.Second
	// DefaultMaxBatchBytes matches the broker's default max.message.bytes
	// (and franz-go's default batch bound).
	DefaultMaxBatchBytes = 1_000_012
	// DefaultFetchLimit is the most events a Fetch returns when
	// FetchOptions.Limit is not set.
	DefaultFetchLimit = 100
	// DefaultFetchMaxBytes bounds a Fetch when FetchOptions.MaxBytes is not
	// set.
	DefaultFetchMaxBytes = 1 << 20
)

// Config configures a Backend. Zero values take the defaults above.
type Config struct {
	// Brokers are bootstrap addresses, host:port; the rest of the cluster
	// is learnt from Metadata.
	Brokers []string
	// Logger gets connection trouble and other events (slog.Default if nil).
	Logger *slog.Logger
	// ClientID names the gateway in the brokers' logs.
	ClientID string
	// MetadataMaxAge is how long a cached topic description (existence,
	// partition count, leaders, topic ID) is trusted before it is asked
	// for again. A miss is always asked for at once.
	MetadataMaxAge time.Duration
	// ProduceTimeout bounds a produce: the broker's wait for in-sync
	// replicas and the client's retries.
	ProduceTimeout time.Duration
	// LeaderWait bounds how long a produce waits for a partition it must
	// write to (named, or chosen by key) that has no leader, its replicas
	// being down or out of the ISR: it then fails with 503 and
	// Retry-After, naming the partition, rather than at ProduceTimeout.
	// A leader moving to another replica does not leave a partition
	// without one.
	LeaderWait time.Duration
	// AdminTimeout is the timeout admin requests carry to the controller.
	AdminTimeout time.Duration
	// MaxBatchBytes bounds a record batch the gateway builds; a single
	// event larger than it is refused with 413.
	MaxBatchBytes int32
	// ClientOpts are added to every franz-go client the Backend makes
	// (TLS, SASL, a dialer).
	ClientOpts []kgo.Opt
	// Ready, when set, is checked by Backend.Ready after its own check;
	// "runnel dev" passes its broker's readiness (metadata applied, every
	// partition led).
	Ready func(ctx context.Context) error
	// Local, when set, is a broker in the gateway's own process ("runnel
	// dev" attaches its node's broker): a produce without an
	// Idempotency-Key writes the events of the partitions it leads with
	// a function call (produce_local.go), and those partitions are read
	// with function calls when it is a LocalFetcher (source_local.go);
	// everything else goes over the Kafka protocol through franz-go.
	Local LocalBroker
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.MetadataMaxAge == 0 {
		c.MetadataMaxAge = DefaultMetadataMaxAge
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.AdminTimeout == 0 {
		c.AdminTimeout = DefaultAdminTimeout
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = DefaultLeaderWait
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	return c
}

// Validate says in plain words what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("backend: no broker addresses: give at least one host:port"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("backend: broker address %q is not host:port: %w", b, err))
		}
	}
	if c.MetadataMaxAge < 0 {
		errs = append(errs, fmt.Errorf("backend: metadata max age %v is negative", c.MetadataMaxAge))
	}
	if c.ProduceTimeout < 0 {
		errs = append(errs, fmt.Errorf("backend: produce timeout %v is negative", c.ProduceTimeout))
	}
	if c.LeaderWait < 0 {
		errs = append(errs, fmt.Errorf("backend: leader wait %v is negative", c.LeaderWait))
	}
	if c.AdminTimeout < 0 {
		errs = append(errs, fmt.Errorf("backend: admin timeout %v is negative", c.AdminTimeout))
	}
	if c.MaxBatchBytes != 0 && (c.MaxBatchBytes < 512 || c.MaxBatchBytes > 1<<30) {
		errs = append(errs, fmt.Errorf("backend: max batch bytes %d is out of range; want 512 to %d", c.MaxBatchBytes, 1<<30))
	}
	return errors.Join(errs...)
}
