package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/faultharness"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// faultS3Store returns a store on srv reached at endpoint, retrying little
// and timing out soon, so that the broker's own retries are what carries
// an upload across an outage.
func faultS3Store(t *testing.T, srv *s3test.Server, endpoint string) tiering.Store {
	t.Helper()
	store, err := tiering.NewS3(tiering.S3Options{
		Endpoint: endpoint, Bucket: srv.Bucket(t, "faults"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
		Attempts: 2, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		CallTimeout: 2 * time.Second, PutTimeout: 2 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// tierFaultCluster starts one broker uploading to store, with a tiered
// topic of 8 KiB segments keeping one byte locally and everything remotely
// (the records' timestamps are years old).
func tierFaultCluster(t *testing.T, store tiering.Store) *tieredCluster {
	t.Helper()
	c := brokertest.Start(t, 1, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "runnel/test"}, RetentionCheckInterval: 20 * time.Millisecond})
	c.CreateTopic("tiered", 1, map[string]*string{"segment.bytes": ptr("8192"), "remote.storage.enable": ptr("true"), "local.retention.bytes": ptr("1"), "retention.ms": ptr("-1")})
	return &tieredCluster{c: c, topic: "tiered"}
}

// produce adds n records to the topic.
func (tc *tieredCluster) produce(t *testing.T, n int) {
	t.Helper()
	produceRecordRange(t, tc.c, tc.topic, tc.n, tc.n+n)
	tc.n += n
}

// drained waits until every rolled segment is uploaded and only the
// active one is left locally on node i.
func (tc *tieredCluster) drained(t *testing.T, i int) {
	t.Helper()
	testwait.For(t, 90*time.Second, 20*time.Millisecond, func() error {
		if lag := gaugeValue(t, tc.c.Metrics(i), "runnel_tier_upload_lag_segments"); lag != 0 {
			return fmt.Errorf("upload lag %v", lag)
		}
		if n := len(logOf(t, tc.c, i, tc.topic, 0).Segments()); n != 1 {
			return fmt.Errorf("%d local segments, want only the active one", n)
		}
		return nil
	})
}

// stalled produces while the store fails and checks that nothing is
// recorded or deleted locally past what is remote, that the failures are
// counted and that the upload lag grows with each produced segment.
func (tc *tieredCluster) stalled(t *testing.T) {
	t.Helper()
	remote := partitionOf(t, tc.c, tc.topic, 0).RemoteSegments
	errs := counterOrZero(t, tc.c.Metrics(0), "runnel_tier_remote_errors_total")
	l := logOf(t, tc.c, 0, tc.topic, 0)
	start := l.LogStartOffset()
	var lag float64
	for round := range 2 {
		tc.produce(t, 200)
		want := float64(len(l.Segments()) - 1)
		testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if got := gaugeValue(t, tc.c.Metrics(0), "runnel_tier_upload_lag_segments"); got != want {
				return fmt.Errorf("round %d: upload lag %v, want %v", round, got, want)
			}
			return nil
		})
		if want <= lag {
			t.Fatalf("round %d: upload lag %v did not grow from %v", round, want, lag)
		}
		lag = want
	}
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := counterOrZero(t, tc.c.Metrics(0), "runnel_tier_remote_errors_total"); got < errs+2 {
			return fmt.Errorf("remote errors %v, were %v: the upload is not retried", got, errs)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // several retention passes
	if got := l.LogStartOffset(); got != start {
		t.Fatalf("local log start moved from %d to %d while the store failed", start, got)
	}
	if got := partitionOf(t, tc.c, tc.topic, 0).RemoteSegments; len(got) != len(remote) {
		t.Fatalf("%d remote segments recorded while the store failed, were %d", len(got), len(remote))
	}
}

// counterOrZero is gaugeValue of a counter vector, 0 before its first
// series exists.
func counterOrZero(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == name }) {
		return 0
	}
	return gaugeValue(t, reg, name)
}

// checkRemote checks that the recorded segments cover offsets 0 up to the
// local log start of node i once each (contiguous, no overlap), that each
// has all its objects, and that a consumer from the start reads every
// record once, in order, unchanged.
func (tc *tieredCluster) checkRemote(t *testing.T, i int, store tiering.Store) {
	t.Helper()
	p := partitionOf(t, tc.c, tc.topic, 0)
	checkOneCopyPerRange(t, p)
	if start := logOf(t, tc.c, i, tc.topic, 0).LogStartOffset(); start != p.RemoteEndOffset()+1 {
		t.Fatalf("local log start %d, remote end %d", start, p.RemoteEndOffset())
	}
	for _, rs := range p.RemoteSegments {
		for _, f := range tiering.SegmentFiles {
			if _, err := store.Stat(context.Background(), tiering.SegmentObject(rs.ObjectKey, f)); err != nil {
				t.Fatalf("segment [%d,%d]: %s: %v", rs.BaseOffset, rs.EndOffset, f, err)
			}
		}
	}
	tc.consumeAll(t)
}

// checkOneCopyPerRange: the recorded remote segments start at 0 and follow
// each other without a gap, and none is recorded twice. One may begin
// inside the one before it only when a newer leader uploaded it and it
// ends past it: a new leader's segments need not end where the old
// leader's did, and it uploads the first that ends past the remote end
// (tierUploader.nextSegment), as Kafka's RemoteLogManager does.
func checkOneCopyPerRange(t *testing.T, p metadata.Partition) {
	t.Helper()
	if len(p.RemoteSegments) == 0 {
		t.Fatal("no remote segments recorded")
	}
	next, epoch := int64(0), int32(-1)
	for _, rs := range p.RemoteSegments {
		straddles := rs.BaseOffset < next && rs.LeaderEpoch > epoch && rs.EndOffset >= next
		if (rs.BaseOffset != next && !straddles) || rs.EndOffset < rs.BaseOffset || rs.LeaderEpoch < epoch {
			t.Fatalf("remote segment [%d,%d] epoch %d (%s) after offset %d at epoch %d: ranges %v",
				rs.BaseOffset, rs.EndOffset, rs.LeaderEpoch, rs.ObjectKey, next-1, epoch, p.RemoteSegments)
		}
		next, epoch = rs.EndOffset+1, rs.LeaderEpoch
	}
}

// TestTierUploadS3ServerStopped stops the S3 server (versitygw) while
// segments roll: uploads fail and are retried, local segments stay, the
// upload lag grows; once the server is back on its address the uploads
// drain, local retention deletes what is remote, and every record is read
// back once in order.
func TestTierUploadS3ServerStopped(t *testing.T) {
	srv := s3test.Start(t)
	store := faultS3Store(t, srv, srv.Endpoint)
	tc := tierFaultCluster(t, store)
	tc.produce(t, 200)
	tc.drained(t, 0)
	srv.Stop()
	tc.stalled(t)
	srv.Restart(t)
	tc.drained(t, 0)
	tc.checkRemote(t, 0, store)
}

// s3ErrorProxy forwards HTTP requests to an S3 server, or, while failing
// is set, answers every PUT with 503 SlowDown as S3 does when throttling.
type s3ErrorProxy struct {
	srv     *httptest.Server
	failing atomic.Bool
	refused atomic.Int64
}

func newS3ErrorProxy(t *testing.T, target string) *s3ErrorProxy {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header the request was signed for
	p := &s3ErrorProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.failing.Load() && r.Method == http.MethodPut {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestTierUploadS3ErrorsAndSlow runs uploads through a proxy that answers
// 503 SlowDown, then through a link slower than the store's timeouts:
// each time nothing is recorded or deleted locally, the failures are
// counted, the lag grows, and once the fault is lifted the uploads drain
// with every range recorded once and every record read back in order.
func TestTierUploadS3ErrorsAndSlow(t *testing.T) {
	srv := s3test.Start(t)
	errs := newS3ErrorProxy(t, srv.Endpoint)
	slow, err := faultharness.NewProxy(errs.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	store := faultS3Store(t, srv, slow.Addr())
	tc := tierFaultCluster(t, store)
	tc.produce(t, 200)
	tc.drained(t, 0)

	errs.failing.Store(true)
	tc.stalled(t)
	if errs.refused.Load() == 0 {
		t.Fatal("no PUT reached the failing proxy")
	}
	errs.failing.Store(false)
	tc.drained(t, 0)

	slow.Shape(faultharness.Backward, faultharness.Shaping{Latency: 3 * time.Second}) // past the 2 s timeouts
	tc.stalled(t)
	slow.Heal()
	tc.drained(t, 0)
	tc.checkRemote(t, 0, store)
}

// TestTierUploadS3LeaderChangeRF3 stops the leader of a three-replica
// tiered partition while its uploads are under way on a slow link to the
// S3 server: a new leader takes over the uploads, the old one comes back
// as a follower, and the metadata holds exactly one recorded copy of each
// offset range, every record read back once in order.
func TestTierUploadS3LeaderChangeRF3(t *testing.T) {
	srv := s3test.Start(t)
	link, err := faultharness.NewProxy(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	store, err := tiering.NewS3(tiering.S3Options{
		Endpoint: link.Addr(), Bucket: srv.Bucket(t, "rf3"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, 3, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "runnel/rf3"}, RetentionCheckInterval: 20 * time.Millisecond})
	tc := &tieredCluster{c: c, topic: "tiered3"}
	c.CreateReplicatedTopic(tc.topic, 1, 3, map[string]*string{"segment.bytes": ptr("8192"), "remote.storage.enable": ptr("true"), "local.retention.bytes": ptr("1"), "retention.ms": ptr("-1")})
	waitISR(t, c, tc.topic, 0, 3, 30*time.Second)
	link.Shape(faultharness.Backward, faultharness.Shaping{Latency: 200 * time.Millisecond})
	tc.produce(t, 600)
	leader := int(partitionOf(t, c, tc.topic, 0).Leader - 1)
	testwait.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		up := gaugeValue(t, c.Metrics(leader), "runnel_tier_uploaded_segments_total")
		lag := gaugeValue(t, c.Metrics(leader), "runnel_tier_upload_lag_segments")
		if up < 1 || lag < 2 {
			return fmt.Errorf("%v uploaded, lag %v: want uploads under way", up, lag)
		}
		return nil
	})
	t.Logf("stopping leader %d at epoch %d: %v segments uploaded, lag %v", leader+1, partitionOf(t, c, tc.topic, 0).LeaderEpoch,
		gaugeValue(t, c.Metrics(leader), "runnel_tier_uploaded_segments_total"), gaugeValue(t, c.Metrics(leader), "runnel_tier_upload_lag_segments"))
	c.Stop(leader)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if p := partitionOf(t, c, tc.topic, 0); p.Leader < 1 || int(p.Leader-1) == leader {
			return fmt.Errorf("leader %d", p.Leader)
		}
		return nil
	})
	link.Heal()
	c.Restart(leader)
	newLeader := int(partitionOf(t, c, tc.topic, 0).Leader - 1)
	// The new leader uploads in its own epoch what it rolls: produce until
	// it has (a follower's segments need not end where the leader's did).
	epochs := map[int32]int{}
	for round := 0; len(epochs) < 2; round++ {
		if round == 10 {
			t.Fatalf("remote segments by leader epoch %v after %d records: the new leader uploads nothing", epochs, tc.n)
		}
		tc.produce(t, 200)
		tc.drained(t, newLeader)
		clear(epochs)
		for _, rs := range partitionOf(t, c, tc.topic, 0).RemoteSegments {
			epochs[rs.LeaderEpoch]++
		}
	}
	t.Logf("new leader %d; remote segments by leader epoch: %v", newLeader+1, epochs)
	tc.checkRemote(t, newLeader, store)
}
