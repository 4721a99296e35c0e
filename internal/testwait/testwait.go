// Package testwait waits in tests for a condition by polling it with a
// deadline, instead of sleeping for a guessed time (nats-server's checkFor).
package testwait

import (
	"testing"
	"time"
)

// For calls f every interval until it returns nil, failing the test with f's
// last error once timeout has passed.
func For(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
