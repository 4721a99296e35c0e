//go:build !runnel_unsafe_acks

package broker

// unsafeAcksAtAppend is false in every normal build: acks=all answers only
// once every in-sync replica has the records. See acks_unsafe.go.
const unsafeAcksAtAppend = false
