package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// Uploads run per partition this broker leads, in the background: nothing
// here blocks produce or holds a log's lock while it talks to the store.
const (
	// tierUploadConcurrency bounds the segments uploaded at once across
	// all partitions.
	tierUploadConcurrency = 4
	// tierBackoffMin and tierBackoffMax pace the retries of a failed
	// upload or record (doubling, capped).
	tierBackoffMin = 100 * time.Millisecond
	tierBackoffMax = 10 * time.Second
)

// remoteSegmentRecorder records uploaded segments in the cluster metadata
// (raftmeta.Member and raftmetatest.Member implement it).
type remoteSegmentRecorder interface {
	AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error
}

// tierLog is what the uploader needs of a partition's log (*commitlog.Log).
type tierLog interface {
	Segments() []commitlog.SegmentInfo
	OpenClosedSegment(base int64) (*commitlog.ClosedSegment, error)
	SetRemoteEnd(offset int64)
	Dir() string
}

// tierUploader uploads the rolled segments of the remote.storage.enable
// partitions this broker leads (one task per partition and leader epoch)
// and records each in the metadata. A task ends when this broker stops
// leading the partition in that epoch: its context is cancelled, and a
// record it still sends is refused by the metadata (fenced by epoch).
//
// Lock order: mu only; no call into the partition or the store holds it.
type tierUploader struct {
	store    tiering.Store
	prefix   func() string
	brokerID int32
	image    func() *metadata.Image
	rec      remoteSegmentRecorder
	parts    func() []*partition
	log      *slog.Logger
	metrics  *tierMetrics
	slots    chan struct{}

	kick chan struct{}
	mu   sync.Mutex
	// tasks are the running uploads, by partition.
	tasks map[*partition]*uploadTask
	wg    sync.WaitGroup
}

// uploadTask is one partition's upload loop at one leader epoch.
type uploadTask struct {
	epoch  int32
	cancel context.CancelFunc
}

func newTierUploader(b *Broker, store tiering.Store, rec remoteSegmentRecorder, m *tierMetrics) *tierUploader {
	return &tierUploader{
		store: store, prefix: b.tierPrefix, brokerID: b.cfg.BrokerID, image: b.member.Image, rec: rec,
		parts: b.partitionsSorted, log: b.log.With("component", "tier-upload"), metrics: m,
		slots: make(chan struct{}, tierUploadConcurrency), kick: make(chan struct{}, 1),
		tasks: map[*partition]*uploadTask{},
	}
}

// wake asks run to look at the partitions again (reconcile calls it after
// every metadata change it applied).
func (u *tierUploader) wake() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// run starts and stops partition tasks as leadership and topic configs
// change, until stop is closed; then it stops every task and waits for them.
func (u *tierUploader) run(stop <-chan struct{}) {
	for {
		u.sync()
		select {
		case <-u.kick:
		case <-stop:
			u.mu.Lock()
			for p, t := range u.tasks {
				t.cancel()
				delete(u.tasks, p)
			}
			u.mu.Unlock()
			u.wg.Wait()
			return
		}
	}
}

// sync makes the running tasks those of the partitions this broker leads
// now, of topics with remote.storage.enable=true.
func (u *tierUploader) sync() {
	want := map[*partition]int32{}
	for _, p := range u.parts() {
		if st := p.state.Load(); st.isLeader && tieredConfig(st.config) {
			want[p] = st.leaderEpoch
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for p, t := range u.tasks {
		if epoch, ok := want[p]; !ok || epoch != t.epoch {
			t.cancel()
			delete(u.tasks, p)
		}
	}
	for p, epoch := range want {
		if _, ok := u.tasks[p]; ok {
			continue
		}
		tl, ok := p.log.(tierLog)
		if !ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		u.tasks[p] = &uploadTask{epoch: epoch, cancel: cancel}
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer u.metrics.forgetLag(p.tp.Topic, p.tp.Partition)
			u.uploadPartition(ctx, p, tl, epoch)
		}()
	}
}

// errStopUpload ends a partition's task: the broker no longer leads it in
// the task's epoch, or the partition is gone.
var errStopUpload = errors.New("stop uploading the partition")

// uploadPartition uploads, oldest first, every rolled segment of p that
// lies wholly below the high watermark and ends past the remote end
// offset, waiting for the high watermark to move when none is left.
func (u *tierUploader) uploadPartition(ctx context.Context, p *partition, tl tierLog, epoch int32) {
	log := u.log.With("partition", p.tp.String(), "leader_epoch", epoch)
	log.Debug("uploading rolled segments")
	failures := 0
	for ctx.Err() == nil {
		hw, moved, err := p.log.WatchHighWatermark()
		if err != nil {
			return // the log closed
		}
		next, waiting, ok := u.nextSegment(p, tl, hw)
		u.metrics.setLag(p.tp.Topic, p.tp.Partition, waiting)
		if !ok {
			select {
			case <-ctx.Done():
			case <-moved:
			}
			continue
		}
		err = u.uploadSegment(ctx, p, tl, epoch, next)
		switch {
		case err == nil:
			failures = 0
		case errors.Is(err, errStopUpload):
			log.Info("stopped uploading", "reason", err)
			return
		case ctx.Err() != nil:
			return
		default:
			failures++
			wait := backoff(failures)
			log.Warn("segment upload failed; retrying", "base_offset", next.BaseOffset, "error", err, "retry_in", wait)
			if !sleepCtx(ctx, wait) {
				return
			}
		}
	}
}

// nextSegment returns the oldest rolled segment of p to upload now, and how
// many rolled segments are not uploaded yet (the upload lag). A segment is
// due when it ends past the remote end offset and below the high
// watermark; a new leader whose oldest segments overlap the remote end
// uploads the first that ends past it.
func (u *tierUploader) nextSegment(p *partition, tl tierLog, hw int64) (commitlog.SegmentInfo, int, bool) {
	remoteEnd := int64(-1)
	if mp, ok := u.image().Partition(p.topicID, p.tp.Partition); ok {
		remoteEnd = mp.RemoteEndOffset()
	}
	var (
		due     commitlog.SegmentInfo
		found   bool
		waiting int
	)
	for _, s := range tl.Segments() {
		if s.Active || s.Size == 0 || s.NextOffset-1 <= remoteEnd {
			continue
		}
		waiting++
		if !found && s.NextOffset <= hw {
			due, found = s, true
		}
	}
	return due, waiting, found
}

// backoff is the wait before retry n (1, 2, ...): doubling from
// tierBackoffMin, capped at tierBackoffMax.
func backoff(n int) time.Duration {
	d := tierBackoffMin
	for i := 1; i < n && d < tierBackoffMax; i++ {
		d *= 2
	}
	return min(d, tierBackoffMax)
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// tieredConfig reports whether a topic's config turns on remote storage.
func tieredConfig(cfg map[string]string) bool {
	return cfg[metadata.ConfigRemoteStorageEnable] == "true"
}

// setRemoteEnd tells a partition's log how far its remote segments reach,
// so that local retention of a tiered topic deletes only uploaded
// segments. Every replica applies it from the metadata.
func setRemoteEnd(l partitionLog, mp metadata.Partition) {
	if tl, ok := l.(tierLog); ok {
		tl.SetRemoteEnd(mp.RemoteEndOffset())
	}
}

// tierConfigError is the refusal of remote.storage.enable=true by a broker
// that has no object store.
func tierConfigError() error {
	return fmt.Errorf("%s=true needs tiered storage, and this broker has no object store configured (start it with --tier-dir or --s3-bucket)", metadata.ConfigRemoteStorageEnable)
}
