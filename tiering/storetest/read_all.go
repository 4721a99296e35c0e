package storetest

import (
	"context"
	"testing"

	"github.com/runnel-dev/runnel/tiering"
)

// ReadAll returns the whole object at key, failing t on any error (the
// checksum of a whole read included), for tests of what stores objects.
func ReadAll(t testing.TB, s tiering.Store, key string) []byte {
	t.Helper()
	b, err := tryRead(context.Background(), s, key, 0, -1)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}
