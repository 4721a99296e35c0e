//go:build runnel_unsafe_acks

package broker

// unsafeAcksAtAppend, in a build with the runnel_unsafe_acks tag only,
// answers acks=all at the leader's local append, as acks=1 does: a leader
// that dies before its followers fetched loses acknowledged records. The
// fault harness builds it to show that its checker catches such loss; no
// release is ever built with it.
const unsafeAcksAtAppend = true
