package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// TestTierHousekeepingOnS3 runs remote retention, the orphan sweep and
// verify against a real S3 server (versitygw): its listing, object times,
// deletes and whole-object checksums are what they act on.
func TestTierHousekeepingOnS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "tier-housekeeping")
	store, err := tiering.NewS3(tiering.S3Options{
		Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newTierEnvOn(t, store, nil)
	top := e.createTopic("tiered", map[string]string{"retention.ms": "3600000"})
	var segs []metadata.RemoteSegment
	for i := range 3 {
		ts := time.Now().UnixMilli()
		if i == 0 {
			ts = time.Now().Add(-2 * time.Hour).UnixMilli()
		}
		segs = append(segs, e.uploadSegment("tiered", e.rollSegment("tiered", 20, ts)))
	}
	orphan := tiering.NewSegmentKey(tierTestPrefix, top.ID, 0, 1000, 0)
	if _, err := store.Put(e.ctx, orphan.Object(tiering.SegmentLogFile), bytes.NewReader([]byte("orphan")), 6); err != nil {
		t.Fatal(err)
	}

	// Verify: sound segments; the orphan is listed. Then damage one
	// object (a flipped byte in the server's file: the CRC-32C kept with it
	// no longer matches) and delete another.
	rep, err := e.b.TierVerify(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Kind != TierOrphan || rep.Segments != 3 {
		t.Fatalf("verify with one orphan: %+v", rep)
	}
	damaged := tiering.SegmentObject(segs[2].ObjectKey, tiering.SegmentLogFile)
	path := filepath.Join(srv.Dir, bucket, filepath.FromSlash(damaged))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := tiering.SegmentObject(segs[1].ObjectKey, tiering.SegmentTimeIndexFile)
	if err := store.Delete(e.ctx, missing); err != nil {
		t.Fatal(err)
	}
	if rep, err = e.b.TierVerify(e.ctx, "tiered"); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, p := range rep.Problems {
		kinds[p.Key] = p.Kind
	}
	if kinds[damaged] != TierDamaged || kinds[missing] != TierMissing || len(kinds) != 3 {
		t.Fatalf("verify of a damaged bucket: %+v", rep.Problems)
	}

	// Retention by time: the old segment's record, then its objects.
	e.b.tierMaint.applyRetention(e.ctx)
	if got := e.remote("tiered").RemoteSegments; keysOf(got) != keysOf(segs[1:]) {
		t.Fatalf("remote segments after retention %s, want %s", keysOf(got), keysOf(segs[1:]))
	}
	if n := e.segmentObjects(segs[0].ObjectKey); n != 0 {
		t.Fatalf("expired segment has %d objects left", n)
	}
	// The sweep: the orphan goes once older than the grace period.
	e.b.tierMaint.sweep(e.ctx)
	if n := e.segmentObjects(orphan.String()); n != 1 {
		t.Fatalf("young orphan: %d objects, want 1", n)
	}
	e.advance(2 * time.Hour)
	e.b.tierMaint.sweep(e.ctx)
	if n := e.segmentObjects(orphan.String()); n != 0 {
		t.Fatalf("old orphan: %d objects left", n)
	}
	if n := e.segmentObjects(segs[2].ObjectKey); n != len(tiering.SegmentFiles) {
		t.Fatalf("a recorded segment lost objects to the sweep: %d left", n)
	}
}
