package broker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/runnel-dev/runnel/broker/producerstate"
)

// loadProducers rebuilds a partition's idempotent-producer state from its
// snapshot and log, so that retried batches are answered with their
// original offsets and sequence gaps are refused (see partition.appendLocked).
func loadProducers(l partitionLog, logger *slog.Logger) (*producerstate.Manager, error) {
	m, err := producerstate.Load(context.Background(), l.Dir(), l, producerstate.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("load producer state: %w", err)
	}
	return m, nil
}
