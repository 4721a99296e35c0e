package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// gatedRecorder holds every AddRemoteSegment until its gate opens, then
// sends it to the metadata whatever became of the uploader's context: the
// metadata, not the uploader's good manners, must refuse a deposed
// leader's record.
type gatedRecorder struct {
	broker.Member
	gate    chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	errs    []error
}

func (g *gatedRecorder) AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	err := g.Member.(interface {
		AddRemoteSegment(context.Context, controller.RemoteSegmentRequest) error
	}).AddRemoteSegment(context.Background(), req)
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
	return err
}

// TestTierUploadLeaderChange deposes the leader while its upload waits to
// be recorded: the record is refused (fenced by leader epoch), nothing of
// the old epoch is recorded after the change, and the leader of the new
// epoch uploads the range again.
func TestTierUploadLeaderChange(t *testing.T) {
	g := &gatedRecorder{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	b, store := tieredBroker(t, brokertest.Options{WrapMember: func(m broker.Member) broker.Member { g.Member = m; return g }})
	seg, on := "16384", "true"
	b.CreateTopic("tiered", 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": &on})
	produceTiered(t, b, "tiered", 20)
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no upload reached the metadata")
	}
	old := remoteOf(t, b, "tiered").LeaderEpoch
	if _, err := b.Member.SetPartition("tiered", 0, metadata.NoLeader, []int32{1}); err != nil {
		t.Fatal(err)
	}
	p, err := b.Member.SetPartition("tiered", 0, 1, []int32{1})
	if err != nil {
		t.Fatal(err)
	}
	if p.LeaderEpoch != old+2 {
		t.Fatalf("leader epoch %d, want %d", p.LeaderEpoch, old+2)
	}
	close(g.gate)
	l, _ := b.Log(commitlog.TopicPartition{Topic: "tiered", Partition: 0})
	segs := l.Segments()
	want := segs[len(segs)-2].NextOffset - 1
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if end := remoteOf(t, b, "tiered").RemoteEndOffset(); end != want {
			return fmt.Errorf("remote end %d, want %d", end, want)
		}
		return nil
	})
	g.mu.Lock()
	fenced := 0
	for _, err := range g.errs {
		if errors.Is(err, metadata.ErrFencedRemoteUpload) {
			fenced++
		}
	}
	g.mu.Unlock()
	if fenced == 0 {
		t.Fatalf("the deposed leader's record was not refused: %v", g.errs)
	}
	p = remoteOf(t, b, "tiered")
	for _, rs := range p.RemoteSegments {
		if rs.LeaderEpoch != old+2 {
			t.Fatalf("segment recorded at epoch %d after the change to %d: %+v", rs.LeaderEpoch, old+2, rs)
		}
	}
	// The deposed upload's objects stay, unrecorded, for the orphan sweep.
	prefixes := map[string]bool{}
	if err := store.List(context.Background(), "runnel/test/", func(o tiering.ObjectInfo) error {
		prefixes[o.Key[:strings.LastIndexByte(o.Key, '/')]] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(prefixes) <= len(p.RemoteSegments) {
		t.Fatalf("%d uploaded copies for %d records: the deposed upload left no objects?", len(prefixes), len(p.RemoteSegments))
	}
}

// flakyStore fails every Put while failing is set.
type flakyStore struct {
	tiering.Store
	failing atomic.Bool
}

func (s *flakyStore) Put(ctx context.Context, key string, body io.ReaderAt, size int64) (tiering.ObjectInfo, error) {
	if s.failing.Load() {
		return tiering.ObjectInfo{}, &tiering.Error{Op: "put", Key: key, Err: errors.New("store unavailable")}
	}
	return s.Store.Put(ctx, key, body, size)
}

// newFailingStore returns a directory store that fails every Put until
// failing is cleared.
func newFailingStore(t *testing.T) *flakyStore {
	t.Helper()
	dir, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &flakyStore{Store: dir}
	s.failing.Store(true)
	return s
}

// TestTierUploadStoreDown keeps the store failing while segments roll: no
// segment is recorded, none is deleted locally although local retention
// wants them gone, the upload lag grows and the errors are counted; once
// the store is back the uploads drain and local retention proceeds.
func TestTierUploadStoreDown(t *testing.T) {
	store := newFailingStore(t)
	b := brokertest.StartBroker(t, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "runnel/test"}, RetentionCheckInterval: 20 * time.Millisecond})
	seg, on, local := "16384", "true", "1"
	b.CreateTopic("tiered", 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": &on, "local.retention.bytes": &local})
	produceTiered(t, b, "tiered", 30)
	l, _ := b.Log(commitlog.TopicPartition{Topic: "tiered", Partition: 0})
	closed := len(l.Segments()) - 1
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if lag := gaugeValue(t, b.Metrics, "runnel_tier_upload_lag_segments"); lag != float64(closed) {
			return fmt.Errorf("upload lag %v, want %d", lag, closed)
		}
		if errs := gaugeValue(t, b.Metrics, "runnel_tier_remote_errors_total"); errs < 2 {
			return fmt.Errorf("remote errors %v: the upload is not retried", errs)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // several retention passes
	if start := l.LogStartOffset(); start != 0 {
		t.Fatalf("local log start %d while nothing is uploaded", start)
	}
	if n := len(remoteOf(t, b, "tiered").RemoteSegments); n != 0 {
		t.Fatalf("%d remote segments recorded while the store fails", n)
	}
	store.failing.Store(false)
	testwait.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		if lag := gaugeValue(t, b.Metrics, "runnel_tier_upload_lag_segments"); lag != 0 {
			return fmt.Errorf("upload lag %v", lag)
		}
		if n := len(l.Segments()); n != 1 {
			return fmt.Errorf("%d local segments, want only the active one", n)
		}
		return nil
	})
	if end := remoteOf(t, b, "tiered").RemoteEndOffset(); end != l.LogStartOffset()-1 {
		t.Fatalf("remote end %d, local log start %d", end, l.LogStartOffset())
	}
}
