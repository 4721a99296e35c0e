package commitlog

import (
	"testing"
)

// TestAdvanceHighWatermark: it moves up, clamped to the log end, never down,
// and wakes the channel WatchHighWatermark gave.
func TestAdvanceHighWatermark(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	if _, err := l.Append(simpleBatch(t, 5, 10, 1000), 0); err != nil {
		t.Fatal(err)
	}
	hw, ch, err := l.WatchHighWatermark()
	if err != nil || hw != 0 {
		t.Fatalf("watch: %d %v", hw, err)
	}
	if !l.AdvanceHighWatermark(3) {
		t.Fatal("advance to 3 did not move")
	}
	select {
	case <-ch:
	default:
		t.Fatal("watch channel not closed by the move")
	}
	if l.AdvanceHighWatermark(2) || l.HighWatermark() != 3 {
		t.Fatalf("high watermark moved back to %d", l.HighWatermark())
	}
	if !l.AdvanceHighWatermark(100) || l.HighWatermark() != 5 {
		t.Fatalf("high watermark %d, want clamped to the log end 5", l.HighWatermark())
	}
	l.Close()
	if _, _, err := l.WatchHighWatermark(); err != ErrClosed {
		t.Fatalf("watch on a closed log: %v, want ErrClosed", err)
	}
}
