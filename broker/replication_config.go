package broker

import (
	"math"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// DefaultReplicaLagTimeMax is Kafka's replica.lag.time.max.ms default: a
// follower that has not caught up to its leader's log end for this long
// leaves the ISR.
const DefaultReplicaLagTimeMax = 30 * time.Second

// defaultMinInsyncReplicas is the broker default of min.insync.replicas.
const defaultMinInsyncReplicas = 1

// minInsyncReplicas returns the topic's min.insync.replicas, or the
// broker's def (the controller validated the value; an unparsable one keeps
// def).
func minInsyncReplicas(cfg map[string]string, def int) int {
	if n, ok := configInt(cfg, metadata.ConfigMinInsyncReplicas); ok && n >= 1 {
		return int(min(n, math.MaxInt32))
	}
	return def
}

// replicaLagTimeMax returns the topic's replica.lag.time.max.ms, or the
// broker's def.
func replicaLagTimeMax(cfg map[string]string, def time.Duration) time.Duration {
	if n, ok := configInt(cfg, metadata.ConfigReplicaLagTimeMaxMs); ok && n >= 1 {
		return time.Duration(n) * time.Millisecond
	}
	return def
}
