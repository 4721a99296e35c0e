package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/runnel-dev/runnel/tiering"
)

// TestTierPutCreateOnly checks that the uploader never overwrites an
// object: a taken key holding the same bytes counts as its own earlier
// write, one holding other bytes is an error and keeps what it holds.
func TestTierPutCreateOnly(t *testing.T) {
	store, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u := &tierUploader{store: store, metrics: newTierMetrics(), log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	first, second := []byte("first upload"), []byte("second uploader")
	if err := u.put(ctx, "k/segment.log", bytes.NewReader(first), int64(len(first))); err != nil {
		t.Fatal(err)
	}
	if err := u.put(ctx, "k/segment.log", bytes.NewReader(first), int64(len(first))); err != nil {
		t.Fatalf("retry of the same bytes: %v", err)
	}
	if err := u.put(ctx, "k/segment.log", bytes.NewReader(second), int64(len(second))); !errors.Is(err, tiering.ErrExists) {
		t.Fatalf("other bytes under a taken key: %v", err)
	}
	rc, err := store.Get(ctx, "k/segment.log", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("object holds %q (%v), want the first upload's bytes", got, err)
	}
}
