// Package loadgen drives a Runnel gateway over its public API, for
// "runnel bench": HTTP produce throughput, end-to-end latency from POST to
// WebSocket delivery at a fixed rate, and fan-out throughput to many
// WebSocket subscribers. It uses only what API.md promises, so it measures
// any gateway that keeps the contract.
package loadgen
