package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replica fetch sizes and waits, Kafka's replica.fetch.* defaults.
const (
	replicaFetchMaxWait        = 500 * time.Millisecond // replica.fetch.wait.max.ms
	replicaFetchPartitionBytes = 1 << 20                // replica.fetch.max.bytes
	replicaFetchResponseBytes  = 10 << 20               // replica.fetch.response.max.bytes
	replicaFetchBackoffMin     = 50 * time.Millisecond
	replicaFetchBackoffMax     = 2 * time.Second
	// replicaPartitionBackoff is how long a partition rests after its
	// leader refused it (not leader yet, epoch not known yet).
	replicaPartitionBackoff = 100 * time.Millisecond
	// Fetch v15 carries the follower's broker epoch (KIP-903);
	// OffsetForLeaderEpoch v4 its replica id.
	replicaFetchVersion      = 15
	replicaEpochQueryVersion = 4
)

// followed is one partition a fetcher fetches.
type followed struct {
	p     *partition
	epoch int32
	// truncate is set until the partition matched its log to the leader's
	// with OffsetForLeaderEpoch (KIP-101, KIP-279), and again when a fetch
	// finds the logs diverged.
	truncate bool
	rest     time.Time // not fetched before this
}

// replicaFetcher pulls the partitions this broker follows from one leader
// broker over one connection: first OffsetForLeaderEpoch for those that
// must truncate, then one Fetch for all of them. It appends what it gets
// with offsets and epochs unchanged and learns the leader's high watermark.
type replicaFetcher struct {
	b      *Broker
	leader int32

	mu    sync.Mutex
	parts map[*partition]*followed
	wake  chan struct{} // buffered 1: parts changed

	conn *peerConn // used by the run goroutine; set under mu so stop can close it
	quit chan struct{}
	done chan struct{}
}

func newReplicaFetcher(b *Broker, leader int32) *replicaFetcher {
	return &replicaFetcher{b: b, leader: leader, parts: map[*partition]*followed{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

func (f *replicaFetcher) start() { go f.run() }

// stop ends the fetcher, cutting a fetch in flight short, and waits for
// it.
func (f *replicaFetcher) stop() {
	close(f.quit)
	f.mu.Lock()
	if f.conn != nil {
		f.conn.close()
	}
	f.mu.Unlock()
	<-f.done
}

// setConn replaces the connection (nil closes it).
func (f *replicaFetcher) setConn(c *peerConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil && f.conn != c {
		f.conn.close()
	}
	f.conn = c
}

// add fetches p in epoch; a new partition or epoch truncates first.
func (f *replicaFetcher) add(p *partition, epoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.parts[p]; ok && cur.epoch == epoch {
		return
	}
	f.parts[p] = &followed{p: p, epoch: epoch, truncate: true}
	f.poke()
}

func (f *replicaFetcher) remove(p *partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, p)
}

func (f *replicaFetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// snapshot returns copies of the partitions ready to work on now, and when
// the next resting one is ready.
func (f *replicaFetcher) snapshot(now time.Time) (ready []followed, next time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fp := range f.parts {
		if fp.rest.After(now) {
			if next.IsZero() || fp.rest.Before(next) {
				next = fp.rest
			}
			continue
		}
		ready = append(ready, *fp)
	}
	return ready, next
}

// update changes the state of p if it is still followed in epoch.
func (f *replicaFetcher) update(p *partition, epoch int32, fn func(*followed)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur, ok := f.parts[p]; ok && cur.epoch == epoch {
		fn(cur)
	}
}

func (f *replicaFetcher) run() {
	defer close(f.done)
	defer f.setConn(nil)
	backoff := replicaFetchBackoffMin
	for {
		select {
		case <-f.quit:
			return
		default:
		}
		ready, next := f.snapshot(time.Now())
		if len(ready) == 0 {
			var timer <-chan time.Time
			if !next.IsZero() {
				timer = time.After(time.Until(next))
			}
			select {
			case <-f.quit:
				return
			case <-f.wake:
			case <-timer:
			}
			continue
		}
		err := f.round(ready)
		if err == nil {
			backoff = replicaFetchBackoffMin
			continue
		}
		f.setConn(nil)
		f.b.log.Debug("replica fetcher", "leader", f.leader, "error", err, "retry_in", backoff)
		select {
		case <-f.quit:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, replicaFetchBackoffMax)
	}
}

// round connects if needed, truncates the partitions that must, and
// fetches the others once. An error means the connection is unusable.
func (f *replicaFetcher) round(ready []followed) error {
	if f.conn != nil && f.conn.expired(time.Now()) {
		f.setConn(nil) // the SASL session ends: reconnect
	}
	if f.conn == nil {
		addr, err := f.addr()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := dialPeer(ctx, addr, f.b.cfg.BrokerID, f.b.cfg.PeerTLS, f.b.cfg.PeerSASL)
		cancel()
		if err != nil {
			return err
		}
		f.setConn(c)
	}
	var truncating, fetching []followed
	for _, fp := range ready {
		if fp.truncate {
			truncating = append(truncating, fp)
		} else {
			fetching = append(fetching, fp)
		}
	}
	if len(truncating) > 0 {
		if err := f.truncate(truncating); err != nil {
			return err
		}
	}
	if len(fetching) > 0 {
		return f.fetch(fetching)
	}
	return nil
}

// addr is where the leader's Kafka listener is: the configured override
// (a test or fault harness routing replication through a proxy), else the
// address the leader registered.
func (f *replicaFetcher) addr() (string, error) {
	if a, ok := f.b.cfg.PeerKafkaAddrs[f.leader]; ok {
		return a, nil
	}
	if br, ok := f.b.member.Image().Broker(f.leader); ok && br.Addr != "" {
		return br.Addr, nil
	}
	return "", fmt.Errorf("%w: broker %d", errPeerUnknown, f.leader)
}

// truncate asks the leader where the follower's latest epoch ends and cuts
// each log there (Kafka's AbstractFetcherThread truncation with KIP-279's
// rules). A partition with no epoch in its log truncates to its high
// watermark without asking.
func (f *replicaFetcher) truncate(parts []followed) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(replicaEpochQueryVersion)
	req.ReplicaID = f.b.cfg.BrokerID
	asked := map[topicPartitionKey]followed{}
	byTopic := map[string]int{}
	for _, fp := range parts {
		latest := fp.p.log.LatestEpoch()
		if latest == commitlog.UndefinedEpoch {
			f.finishTruncation(fp, fp.p.log.Offsets().HighWatermark)
			continue
		}
		i, ok := byTopic[fp.p.tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[fp.p.tp.Topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = fp.p.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = fp.p.tp.Partition, fp.epoch, latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[topicPartitionKey{fp.p.tp.Topic, fp.p.tp.Partition}] = fp
	}
	if len(req.Topics) == 0 {
		return nil
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := f.conn.call(time.Now().Add(10*time.Second), req, resp); err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			fp, ok := asked[topicPartitionKey{t.Topic, rp.Partition}]
			if !ok {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				f.rest(fp, err)
				continue
			}
			to, done := truncationOffset(fp.p.log, rp.LeaderEpoch, rp.EndOffset)
			if done {
				f.finishTruncation(fp, to)
				continue
			}
			// The leader answered with an epoch this log does not have:
			// cut to where the log's epochs below it end, then ask again.
			if err := fp.p.truncateReplica(to, fp.epoch); err != nil {
				f.rest(fp, err)
			}
		}
	}
	return nil
}

// truncationOffset applies KIP-279 to the leader's answer (leaderEpoch,
// leaderEnd) for this log: where to cut it, and whether that ends the
// truncation (false: cut there and ask the leader again).
func truncationOffset(l partitionLog, leaderEpoch int32, leaderEnd int64) (int64, bool) {
	leo := l.Offsets().LogEnd
	switch {
	case leaderEnd == commitlog.UndefinedOffset:
		// The leader knows nothing of the epoch: keep what is committed.
		return l.Offsets().HighWatermark, true
	case leaderEpoch == commitlog.UndefinedEpoch:
		return min(leaderEnd, leo), true
	}
	followerEpoch, followerEnd := l.EndOffsetForEpoch(leaderEpoch)
	if followerEpoch != leaderEpoch {
		return min(followerEnd, leo), false
	}
	return min(leaderEnd, followerEnd, leo), true
}

// finishTruncation cuts fp's log at offset and lets it fetch.
func (f *replicaFetcher) finishTruncation(fp followed, offset int64) {
	if err := fp.p.truncateReplica(offset, fp.epoch); err != nil {
		f.rest(fp, err)
		return
	}
	f.update(fp.p, fp.epoch, func(c *followed) { c.truncate = false })
}

// rest pauses a partition after an error its leader or its log gave.
func (f *replicaFetcher) rest(fp followed, err error) {
	if !errors.Is(err, errStaleFollow) {
		f.b.log.Debug("replica fetch partition", "partition", fp.p.tp.String(), "leader", f.leader, "leader_epoch", fp.epoch, "error", err)
	}
	f.update(fp.p, fp.epoch, func(c *followed) { c.rest = time.Now().Add(replicaPartitionBackoff) })
}

type topicPartitionKey struct {
	topic     string
	partition int32
}

// fetch fetches every partition of parts once, as a follower: replica id
// and broker epoch set, from each log's end, up to the leader's log end.
func (f *replicaFetcher) fetch(parts []followed) error {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(replicaFetchVersion)
	req.ReplicaID = f.b.cfg.BrokerID
	req.ReplicaState.ID = f.b.cfg.BrokerID
	req.ReplicaState.Epoch = int64(f.b.member.BrokerEpoch())
	req.MaxWaitMillis = int32(replicaFetchMaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = replicaFetchResponseBytes
	req.SessionEpoch = -1 // no fetch sessions
	byID := map[[16]byte]int{}
	asked := map[[16]byte]map[int32]followed{}
	for _, fp := range parts {
		id := [16]byte(fp.p.topicID)
		i, ok := byID[id]
		if !ok {
			i = len(req.Topics)
			byID[id] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = fp.p.tp.Topic, id
			req.Topics = append(req.Topics, t)
			asked[id] = map[int32]followed{}
		}
		o := fp.p.log.Offsets()
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = fp.p.tp.Partition, fp.epoch
		rp.FetchOffset, rp.LogStartOffset, rp.LastFetchedEpoch = o.LogEnd, o.LogStart, -1
		rp.PartitionMaxBytes = replicaFetchPartitionBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[id][fp.p.tp.Partition] = fp
	}
	resp := kmsg.NewPtrFetchResponse()
	if err := f.conn.call(time.Now().Add(replicaFetchMaxWait+10*time.Second), req, resp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("fetch from broker %d: %w", f.leader, err)
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			fp, ok := asked[t.TopicID][rp.Partition]
			if !ok {
				continue
			}
			f.handleFetched(fp, &rp)
		}
	}
	return nil
}

// handleFetched appends one partition's fetched batches and learns the
// leader's high watermark.
func (f *replicaFetcher) handleFetched(fp followed, rp *kmsg.FetchResponseTopicPartition) {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		if fp.p.log.Offsets().LogEnd < rp.LogStartOffset {
			if err := fp.p.restartReplicaAt(rp.LogStartOffset, fp.epoch); err != nil {
				f.rest(fp, err)
			}
			return
		}
		// The log runs past the leader's: it diverged.
		f.update(fp.p, fp.epoch, func(c *followed) { c.truncate = true })
		return
	default:
		f.rest(fp, err)
		return
	}
	if len(rp.RecordBatches) > 0 {
		n, err := fp.p.appendReplica(rp.RecordBatches, fp.epoch)
		if err != nil {
			if errors.Is(err, commitlog.ErrBadOffset) {
				f.update(fp.p, fp.epoch, func(c *followed) { c.truncate = true })
				return
			}
			f.rest(fp, err)
			return
		}
		f.b.repMetrics.appendedBytes.Add(float64(n))
	}
	if rp.HighWatermark >= 0 {
		fp.p.leaderHW.Store(rp.HighWatermark)
		fp.p.log.AdvanceHighWatermark(rp.HighWatermark)
	}
	// The leader's log start moved (DeleteRecords, retention): follow it
	// as far as this log is committed, so that records deleted there are
	// not served again should this broker lead (Kafka's
	// maybeIncrementLogStartOffset).
	if o := fp.p.log.Offsets(); rp.LogStartOffset > o.LogStart {
		if _, err := fp.p.log.DeleteRecordsBefore(min(rp.LogStartOffset, o.HighWatermark)); err != nil {
			f.b.log.Warn("follow the leader's log start", "partition", fp.p.tp.String(), "leader_log_start", rp.LogStartOffset, "error", err)
		}
	}
}
