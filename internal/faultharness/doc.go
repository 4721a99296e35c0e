// Package faultharness runs real Runnel clusters under faults and checks
// that no acknowledged record is lost, duplicated, moved or reordered.
//
// The pieces, one per file:
//
//   - Proxy (proxy.go): a TCP proxy between two brokers whose two directions
//     can each pass, be cut (bytes held, the connections reset on heal, as a
//     long network partition ends), be refused (connections closed, new ones
//     refused), be delayed or be throttled.
//   - Network (network.go): one proxy per ordered pair of brokers for raft
//     traffic and one for Kafka replication traffic, with the faults a test
//     names: a two-way partition of a broker, a one-way one (it can send but
//     not receive, or the reverse), a slow broker, heal.
//   - Schedule (schedule.go, inject.go): a seeded plan of faults in rounds
//     that keep a majority, healed between and at the end; RUNNEL_SEED
//     replays one. Cluster.RunSchedule applies it, resolving "the leader of
//     partition p" when each fault starts.
//   - Cluster (build.go, cluster.go, process.go, gateway.go, metrics.go): N
//     "runnel broker" processes of a binary built once per test run and set
//     of build tags, every inter-broker link through the Network, clients
//     connecting directly; kill -9, SIGSTOP/SIGCONT, SIGTERM and restart; a
//     "runnel gateway" in front; each broker's --metrics.
//   - Workloads (workload.go, rest.go, restconsume.go, chaos.go):
//     idempotent acks=all franz-go producers, REST producers retrying with
//     the same Idempotency-Key, plain Kafka consumers and REST long-poll
//     consumers, each recording what was acknowledged or read into a History
//     (history.go).
//   - Checker (checker.go, readback.go): reads every partition from its log
//     start to its high watermark and proves each acknowledged record is
//     there exactly once, at the offset it was acknowledged at, in producer
//     order, and that no consumer read a record that is gone. Violations
//     name the seed, partition, offset and record.
//   - ProduceDirect and PartitionFrom (direct.go) talk to one chosen broker,
//     as a client with stale metadata would.
//
// The tests in this package are the replication acceptance suite of issue
// 11: TestChaos (seeds on 3 and 5 brokers), TestCheckerCatchesUnsafeAcks,
// TestPausedLeaderTruncatesDivergentTail, TestISRShrinksAndExpands,
// TestNotEnoughReplicas, TestKcatAndFranzThroughLeaderKill,
// TestUncleanElection, TestControlledShutdownMovesLeadership, and
// BenchmarkFailover.
package faultharness
