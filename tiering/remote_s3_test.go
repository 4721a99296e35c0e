package tiering_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// TestRemoteReadS3 reads a remote segment back from a real S3 server
// (versitygw) through ranged GETs: sequentially in small fetches, each
// chunk fetched once, every record as written.
func TestRemoteReadS3(t *testing.T) {
	srv := s3test.Start(t)
	s3 := newS3Store(t, srv, nil)
	ts := makeSegment(t, s3, 150, 1024)
	store := newCountingStore(s3)
	const chunk = 16 << 10
	r, _ := newReader(t, store, tiering.ReaderOptions{ChunkSize: chunk})
	ctx := context.Background()
	got, err := readSegment(t, r, ts.seg, 4000)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ts.records) {
		t.Fatalf("read %d records from S3, want %d as written", len(got), len(ts.records))
	}
	chunks := int((ts.seg.Size + chunk - 1) / chunk)
	if gets, perRange := store.count(tiering.SegmentLogFile); gets != chunks || perRange != 1 {
		t.Fatalf("%d ranged GETs (at most %d of one range) for %d chunks", gets, perRange, chunks)
	}
	o, tsFound, found, err := r.OffsetForTimestamp(ctx, ts.seg, ts.records[77].ts, 0)
	if err != nil || !found || o != 77 || tsFound != ts.records[77].ts {
		t.Fatalf("offset for the timestamp of record 77: %d %d %v %v", o, tsFound, found, err)
	}
}
