package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Fetch, 4, 15, (*Broker).handleFetch) }

// handleFetch answers with the batches at each partition's fetch offset, up to
// the high watermark. The record bytes are never read: the response carries
// file regions that the server sends with sendfile. With min_bytes unmet, it
// waits up to max_wait_ms for a high watermark to move, then reads once more.
func (b *Broker) handleFetch(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.FetchRequest)
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		resp, size, waits := b.fetchOnce(ctx, req)
		if size >= int64(req.MinBytes) || len(waits) == 0 || !time.Now().Before(deadline) {
			return resp, nil
		}
		releaseResponse(resp) // not sent: a newer read replaces it
		wctx, cancel := context.WithDeadline(ctx, deadline)
		waitAny(wctx, waits)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		deadline = time.Now() // read once more, then answer
	}
}

// releaseResponse lets go of what a response's splices hold, for a response
// that is not handed to the server (which otherwise calls Release).
func releaseResponse(r *kafkaserver.Response) {
	if r.Release != nil {
		r.Release()
	}
}

// fetchWait is a partition whose high watermark (a consumer's long poll)
// or log end (a follower's) a long poll waits on.
type fetchWait struct {
	log    partitionLog
	offset int64
	end    bool
}

// waitAny returns when one of the high watermarks passes its offset or ctx ends.
func waitAny(ctx context.Context, waits []fetchWait) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, len(waits))
	for _, w := range waits {
		go func() {
			if w.end {
				w.log.WaitForEnd(ctx, w.offset)
			} else {
				w.log.WaitForHighWatermark(ctx, w.offset)
			}
			done <- struct{}{}
		}()
	}
	<-done
	cancel()
	for range len(waits) - 1 {
		<-done
	}
}

// fetchOnce reads every partition of req once. The response holds the
// reads' references to the segment files it splices until the server is
// done with it (Response.Release), so that retention deleting a segment
// meanwhile does not close a file the response is sent from.
func (b *Broker) fetchOnce(ctx context.Context, req *kmsg.FetchRequest) (*kafkaserver.Response, int64, []fetchWait) {
	out := &kafkaserver.Response{}
	var held []commitlog.ReadResult // the reads spliced into out
	defer func() {
		if len(held) > 0 {
			out.Release = func() {
				for i := range held {
					held[i].Release()
				}
			}
		}
	}()
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	out.Msg = resp
	img := b.member.Image()
	replica, err := b.fetchingReplica(img, req)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return out, 0, nil
	}
	bound := commitlog.ToHighWatermark
	if replica >= 0 {
		// A follower reads up to the log end, and its bytes are counted
		// apart from consumers'.
		bound = commitlog.ToLogEnd
		out.Sent = b.repMetrics.countReplicaSendfile
	}
	budget := int64(req.MaxBytes)
	if budget <= 0 {
		budget = 52428800
	}
	var total int64
	var waits []fetchWait
	failed := false
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name, topicErr := t.Topic, error(nil)
		if req.Version >= 13 {
			if mt, ok := img.TopicByID(uuid.UUID(t.TopicID)); ok {
				name = mt.Name
			} else {
				topicErr = kerr.UnknownTopicID
			}
		}
		for _, fp := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = fp.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{} // never null: librdkafka refuses a null record set
			err := topicErr
			var p *partition
			if err == nil {
				p, err = b.partitionFor(name, fp.Partition)
			}
			var st *partitionState
			if err == nil {
				st, err = p.leaderState(fp.CurrentLeaderEpoch)
			}
			if err == nil && replica >= 0 && !contains(st.replicas, replica) {
				err = fmt.Errorf("%w: broker %d is not a replica of %s", errNotLeader, replica, p.tp)
			}
			if err == nil {
				limit := min(int64(fp.PartitionMaxBytes), budget-total)
				if total > 0 && limit <= 0 {
					limit = 0
				}
				var res commitlog.ReadResult
				var remote []byte // batches read from remote segments
				res, remote, err = b.fetchRead(ctx, img, p, fp.FetchOffset, limit, bound, replica < 0)
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
				if replica >= 0 && err == nil {
					// The fetch offset is the follower's log end: the high
					// watermark may move, and the follower may rejoin the ISR.
					if hw := b.followerFetched(p, st, replica, fp.FetchOffset); hw >= 0 {
						rp.HighWatermark, rp.LastStableOffset = hw, hw
					}
				}
				if n := res.Size() + int64(len(remote)); err == nil && (total == 0 || n <= budget-total) {
					switch {
					case len(remote) > 0:
						rp.RecordBatches = remote
						total += n
					case n > 0:
						rp.RecordBatches = out.Splice(res.Slices)
						held = append(held, res)
						total += n
					default:
						waits = append(waits, fetchWait{p.log, fp.FetchOffset, replica >= 0})
					}
				} else {
					res.Release() // over the response's budget: not sent
				}
				var oor *commitlog.OffsetOutOfRangeError
				if errors.As(err, &oor) {
					rp.LogStartOffset = oor.LogStartOffset
				}
				setUnreadableRange(&rp, req.Version, err)
			}
			rp.ErrorCode = errorCode(err)
			if rp.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("fetch", "topic", name, "partition", fp.Partition, "error", err)
			}
			if err != nil {
				failed = true // errors are answered at once, without a long poll
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if failed {
		waits = nil
	}
	return out, total, waits
}

// setUnreadableRange tells a reader which offsets it cannot read when err is
// an *commitlog.UnreadableRangeError: the error code (set by the caller) is
// CORRUPT_MESSAGE, and flexible versions (v12+) carry the range in the
// tagged field kafkaext.UnreadableRangeTag, where Runnel's gateway finds the
// offset to go on from. Kafka clients skip the tag.
func setUnreadableRange(rp *kmsg.FetchResponseTopicPartition, version int16, err error) {
	var ue *commitlog.UnreadableRangeError
	if version < 12 || !errors.As(err, &ue) {
		return
	}
	r := kafkaext.UnreadableRange{From: ue.From, To: ue.To}
	rp.UnknownTags.Set(kafkaext.UnreadableRangeTag, kafkaext.AppendUnreadableRange(nil, r))
}
