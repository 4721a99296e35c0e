package backend

import (
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// TestCommitTimesWalkBack: a commit far behind the tail of
// __consumer_offsets is found by reading back window by window, newer
// records win over older ones, and one beyond the search bound has no
// time.
func TestCommitTimesWalkBack(t *testing.T) {
	// The broker stamps commits with the clock the test reads, on the
	// same machine; the slack covers rounding only.
	const clockSlack = 200
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 2, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "t", AcksAll, values(5, 0, "a"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Produce(ctx, "t", AcksAll, values(5, 1, "b"), ""); err != nil {
		t.Fatal(err)
	}
	commit := func(p int32, off int64) int64 {
		t.Helper()
		if _, err := b.CommitGroupOffset(ctx, "g", "t", p, off); err != nil {
			t.Fatal(err)
		}
		return time.Now().UnixMilli()
	}
	p1Before := time.Now().UnixMilli()
	p1After := commit(1, 2)
	// Far enough apart that the two partitions' times cannot be confused.
	time.Sleep(time.Second)
	var p0Before, p0After int64
	for i := range 12 {
		p0Before = time.Now().UnixMilli()
		p0After = commit(0, int64(i%5))
	}
	want := map[topicPartition]bool{{"t", 0}: true, {"t", 1}: true}

	defer func(w, m int64) { commitScanWindow, commitScanMax = w, m }(commitScanWindow, commitScanMax)
	commitScanWindow, commitScanMax = 3, 1000
	times, err := b.commitTimes(ctx, "g", want)
	if err != nil {
		t.Fatal(err)
	}
	if at := times[topicPartition{"t", 1}]; at < p1Before-clockSlack || at > p1After+clockSlack {
		t.Fatalf("partition 1 committed at %d, want between %d and %d (all: %v)", at, p1Before, p1After, times)
	}
	if at := times[topicPartition{"t", 0}]; at < p0Before-clockSlack || at > p0After+clockSlack {
		t.Fatalf("partition 0 committed at %d, want the last commit's time, between %d and %d", at, p0Before, p0After)
	}

	commitScanMax = 6 // partition 1's commit lies 12 records back
	times, err = b.commitTimes(ctx, "g", want)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := times[topicPartition{"t", 1}]; ok || len(times) != 1 {
		t.Fatalf("beyond the bound: %v, want partition 0 alone", times)
	}
}
