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

// Returns calls f and fails the test unless f returns within timeout: for a
// call that must not wait behind work the test keeps busy elsewhere. f runs
// on its own goroutine, which is left behind when it does not return; the
// test should release what f waits on in a cleanup.
func Returns(t testing.TB, timeout time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %v", what, timeout)
	}
}
