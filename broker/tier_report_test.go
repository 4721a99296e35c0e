package broker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/tiering"
)

// tierCall calls the tiering endpoints and decodes the JSON answer into
// out; it returns the status.
func tierCall(t *testing.T, srv *httptest.Server, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode
}

func TestTierListAndVerify(t *testing.T) {
	e := newTierEnv(t, nil)
	e.createTopic("tiered", nil)
	e.createTopic("other", nil)
	now := time.Now().UnixMilli()
	var segs = []TierSegment{}
	for range 3 {
		s := e.uploadSegment("tiered", e.rollSegment("tiered", 10, now))
		segs = append(segs, TierSegment{BaseOffset: s.BaseOffset, EndOffset: s.EndOffset, Size: s.Size, MaxTimestamp: s.MaxTimestamp, LeaderEpoch: s.LeaderEpoch, Key: s.ObjectKey})
	}
	srv := httptest.NewServer(e.b.TierHandler())
	defer srv.Close()

	var l TierListing
	if st := tierCall(t, srv, "GET", "/v1/tier/segments?topic=tiered", &l); st != http.StatusOK {
		t.Fatalf("segments: status %d", st)
	}
	if !slices.Equal(l.Segments, segs) {
		t.Fatalf("segments %+v, want %+v", l.Segments, segs)
	}
	if l.Total.Segments != 3 || l.Total.Bytes != segs[0].Size+segs[1].Size+segs[2].Size || len(l.Partitions) != 1 || *l.Partitions[0].RemoteStart != 0 {
		t.Fatalf("totals %+v partitions %+v", l.Total, l.Partitions)
	}
	var errBody struct {
		Error struct{ Code, Message string }
	}
	if st := tierCall(t, srv, "GET", "/v1/tier/segments?topic=nope", &errBody); st != http.StatusNotFound || errBody.Error.Code != "unknown_topic" {
		t.Fatalf("unknown topic: %d %+v", st, errBody)
	}
	if st := tierCall(t, srv, "GET", "/v1/tier/segments", &errBody); st != http.StatusBadRequest {
		t.Fatalf("no topic: %d %+v", st, errBody)
	}

	var rep TierVerifyReport
	if st := tierCall(t, srv, "POST", "/v1/tier/verify", &rep); st != http.StatusOK || !rep.OK || rep.Segments != 3 || rep.Objects != 3*len(tiering.SegmentFiles) || len(rep.Problems) != 0 {
		t.Fatalf("verify of a sound store: %d %+v", st, rep)
	}

	// Damage: flip a byte of one segment's log (past the DirStore header,
	// tiering/dirstore_format.go), delete another's index, leave an
	// orphan and a key that is no segment's.
	damaged := tiering.SegmentObject(segs[0].Key, tiering.SegmentLogFile)
	path, err := e.dir.Path(damaged)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[32+len(data[32:])/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := tiering.SegmentObject(segs[1].Key, tiering.SegmentIndexFile)
	if err := e.store.Delete(e.ctx, missing); err != nil {
		t.Fatal(err)
	}
	top, _ := e.m.Image().Topic("tiered")
	orphan := tiering.NewSegmentKey(tierTestPrefix, top.ID, 0, 30, 0).Object(tiering.SegmentLogFile)
	stray := tierTestPrefix + "/README"
	for _, k := range []string{orphan, stray} {
		if _, err := e.store.Put(e.ctx, k, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
	}
	rep = TierVerifyReport{}
	if st := tierCall(t, srv, "POST", "/v1/tier/verify", &rep); st != http.StatusOK || rep.OK {
		t.Fatalf("verify of a damaged store: %d %+v", st, rep)
	}
	found := map[string]string{}
	for _, p := range rep.Problems {
		found[p.Key] = p.Kind
	}
	want := map[string]string{damaged: TierDamaged, missing: TierMissing, orphan: TierOrphan, stray: TierUnrecognized}
	if len(found) != len(want) {
		t.Fatalf("problems %+v, want %v", rep.Problems, want)
	}
	for k, kind := range want {
		if found[k] != kind {
			t.Fatalf("problems %+v: %s should be %s", rep.Problems, k, kind)
		}
	}
	// A topic's verify looks at that topic's objects only.
	rep = TierVerifyReport{}
	if st := tierCall(t, srv, "POST", "/v1/tier/verify?topic=other", &rep); st != http.StatusOK || !rep.OK || rep.Segments != 0 {
		t.Fatalf("verify of a topic without remote data: %d %+v", st, rep)
	}
}

func TestTierVerifyWithoutStore(t *testing.T) {
	b := &Broker{}
	srv := httptest.NewServer(b.TierHandler())
	defer srv.Close()
	var errBody struct {
		Error struct{ Code, Message string }
	}
	if st := tierCall(t, srv, "POST", "/v1/tier/verify", &errBody); st != http.StatusServiceUnavailable || errBody.Error.Code != "tiering_off" {
		t.Fatalf("verify without a store: %d %+v", st, errBody)
	}
}
