package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce is advertised from v0 although only v3 and later are served: librdkafka
// decides from the lowest advertised Produce version whether the broker takes
// gzip, snappy and lz4 batches, and without v0-v2 listed it sends them
// uncompressed. Kafka 4.0 does the same (KAFKA-18659); v0-v2 requests, whose
// message-set format predates record batches, get UNSUPPORTED_VERSION.
func init() { register(kmsg.Produce, 0, 11, (*Broker).handleProduce) }

// minProduceVersion is the lowest Produce version served: v3 brought record
// batches (magic 2), the only format the logs hold.
const minProduceVersion = 3

// handleProduce appends each partition's records as leader. acks=0 gets no
// answer; acks=1 is answered after the local append; acks=-1 after the high
// watermark passes the records (all in-sync replicas have them).
func (b *Broker) handleProduce(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	var out [1]kafkaserver.Result
	b.handleProduces(ctx, []*kafkaserver.Request{r}, out[:])
	finishResults(ctx, out[:])
	return out[0].Response, out[0].Err
}

// produceTarget is one partition of one produce request.
type produceTarget struct {
	req   int // index in the batch of requests
	topic string
	rp    *kmsg.ProduceResponseTopicPartition
	batch producedBatch
}

// partitionTargets are the targets of one partition, in request order.
type partitionTargets struct {
	p       *partition
	targets []int // indexes into the targets slice
}

// produceWait is an acks=-1 target waiting for its records to commit.
type produceWait struct {
	p           *partition
	lastOffset  int64
	leaderEpoch int32
	rp          *kmsg.ProduceResponseTopicPartition
}

// handleProduces serves produce requests that a client pipelined on one
// connection, in order, as handleProduce would one after another, and fills
// out. The batches of the requests for one partition are appended together
// (partition.appendEach); an acks=-1 request's wait for its records to
// commit is left to its Finish (finishResults calls them in order).
func (b *Broker) handleProduces(ctx context.Context, reqs []*kafkaserver.Request, out []kafkaserver.Result) {
	sc := produceScratches.Get().(*produceScratch)
	defer sc.release()
	resps := sc.resps[:0]
	now := time.Now()
	for i, r := range reqs {
		req := r.Msg.(*kmsg.ProduceRequest)
		if err := produceRefusal(req); err != nil {
			out[i] = refusedProduce(req, err)
			resps = append(resps, nil)
			continue
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
		for ti, t := range req.Topics {
			rt := &resp.Topics[ti]
			*rt = kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
			for pi := range t.Partitions {
				rp := &rt.Partitions[pi]
				p, batch := b.checkProduced(rp, t.Topic, &t.Partitions[pi], req.Version, req.Acks, now)
				if p == nil {
					continue
				}
				g := sc.group(p)
				g.targets = append(g.targets, len(sc.targets))
				sc.targets = append(sc.targets, produceTarget{req: i, topic: t.Topic, rp: rp, batch: batch})
			}
		}
		resps = append(resps, resp)
	}
	sc.resps = resps

	var (
		waits    [][]produceWait // by request
		targets  = sc.targets
		batches  = sc.batches
		outcomes = sc.outcomes
	)
	for _, g := range sc.groups {
		batches, outcomes = batches[:0], outcomes[:0]
		for _, ti := range g.targets {
			batches = append(batches, targets[ti].batch)
			outcomes = append(outcomes, appendOutcome{})
		}
		logAppendTime := g.p.appendEach(batches, outcomes)
		logStart := g.p.log.Offsets().LogStart
		for k, ti := range g.targets {
			t, o := &targets[ti], outcomes[k]
			if !b.answerAppend(t.rp, t.topic, o, logAppendTime, logStart) {
				// UNKNOWN_PRODUCER_ID and the log start with it came
				// with produce v5; an older client gets the error it
				// knows for the same case.
				if t.rp.ErrorCode == kerr.UnknownProducerID.Code && reqs[t.req].Msg.GetVersion() < 5 {
					t.rp.ErrorCode = kerr.OutOfOrderSequenceNumber.Code
				}
				continue
			}
			if reqs[t.req].Msg.(*kmsg.ProduceRequest).Acks == -1 && !unsafeAcksAtAppend {
				if waits == nil {
					waits = make([][]produceWait, len(reqs))
				}
				waits[t.req] = append(waits[t.req], produceWait{g.p, o.lastOffset, o.leaderEpoch, t.rp})
			}
		}
	}
	sc.batches, sc.outcomes = batches, outcomes

	for i, resp := range sc.resps {
		if resp == nil {
			continue // answered with an error above
		}
		req := reqs[i].Msg.(*kmsg.ProduceRequest)
		if waits != nil && len(waits[i]) > 0 {
			// The wait for the replicas is the request's Finish: the
			// connection's next requests are appended meanwhile. The
			// timeout counts from the append, as Kafka's purgatory does.
			w, deadline := waits[i], now.Add(commitTimeout(req.TimeoutMillis))
			out[i].Finish = func(ctx context.Context) (*kafkaserver.Response, error) {
				b.awaitCommit(ctx, deadline, w)
				return &kafkaserver.Response{Msg: resp}, nil
			}
			continue
		}
		if req.Acks != 0 {
			out[i].Response = &kafkaserver.Response{Msg: resp}
		}
	}
}

// checkProduced starts rp, the answer for tp of topic, and checks tp's
// records as a produce of version with acks has them checked before
// anything is appended: the partition's leader state, the batch itself
// (validateProduced) and, for acks=-1, min.insync.replicas. It returns the
// partition and the batch to append, or a nil partition with the refusal
// set in rp.
func (b *Broker) checkProduced(rp *kmsg.ProduceResponseTopicPartition, topic string, tp *kmsg.ProduceRequestTopicPartition, version, acks int16, now time.Time) (*partition, producedBatch) {
	*rp = unansweredPartition(tp.Partition)
	p, err := b.partitionFor(topic, tp.Partition)
	if err != nil {
		b.setProduceError(rp, topic, err)
		return nil, producedBatch{}
	}
	batch, err := p.validateProduced(tp.Records, version, now)
	if err == nil && acks == -1 {
		err = p.checkMinISR()
	}
	if err != nil {
		b.setProduceError(rp, topic, err)
		return nil, producedBatch{}
	}
	return p, batch
}

// unansweredPartition is the answer for partition before anything is
// known: no offsets, no error.
func unansweredPartition(partition int32) kmsg.ProduceResponseTopicPartition {
	rp := kmsg.NewProduceResponseTopicPartition()
	rp.Partition = partition
	rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
	return rp
}

// answerAppend fills rp with o, the outcome of appending its batch to a
// log that starts at logStart, logAppendTime the broker's stamp (-1 when
// the topic keeps create times), and reports whether the batch is in the
// log (written now, or a retry of one written before). A refusal carries
// the log start too, as Kafka's does, so that a producer told
// UNKNOWN_PRODUCER_ID can see whether retention removed its batches.
func (b *Broker) answerAppend(rp *kmsg.ProduceResponseTopicPartition, topic string, o appendOutcome, logAppendTime, logStart int64) bool {
	rp.LogStartOffset = logStart
	if o.err != nil {
		b.setProduceError(rp, topic, o.err)
		return false
	}
	rp.BaseOffset, rp.LogAppendTime = o.firstOffset, -1
	if !o.dup {
		rp.LogAppendTime = logAppendTime
	}
	return true
}

// produceScratch is handleProduces' working state, pooled: a produce of a
// few partitions then allocates little beyond its response. Nothing in it
// outlives the call (the waits an acks=-1 request's Finish keeps are
// allocated apart).
type produceScratch struct {
	resps    []*kmsg.ProduceResponse // by request; nil for one answered already
	targets  []produceTarget
	groups   []partitionTargets // in order of first appearance
	byPart   map[*partition]int // index in groups, once there are many
	batches  []producedBatch
	outcomes []appendOutcome
}

var produceScratches = sync.Pool{New: func() any { return new(produceScratch) }}

// produceScratchMax keeps a huge request's scratch out of the pool.
const produceScratchMax = 1024

// groupScanMax is how many groups group looks through before it keeps
// them in a map.
const groupScanMax = 8

// group returns the targets of partition p, adding them.
func (sc *produceScratch) group(p *partition) *partitionTargets {
	if sc.byPart != nil {
		if g, ok := sc.byPart[p]; ok {
			return &sc.groups[g]
		}
	} else {
		for i := range sc.groups {
			if sc.groups[i].p == p {
				return &sc.groups[i]
			}
		}
	}
	if len(sc.groups) < cap(sc.groups) {
		sc.groups = sc.groups[:len(sc.groups)+1] // reuse the slot's targets
		sc.groups[len(sc.groups)-1].p = p
	} else {
		sc.groups = append(sc.groups, partitionTargets{p: p})
	}
	if len(sc.groups) > groupScanMax {
		if sc.byPart == nil {
			sc.byPart = make(map[*partition]int, 2*groupScanMax)
			for i := range sc.groups {
				sc.byPart[sc.groups[i].p] = i
			}
		}
		sc.byPart[p] = len(sc.groups) - 1
	}
	return &sc.groups[len(sc.groups)-1]
}

func (sc *produceScratch) release() {
	if len(sc.targets) > produceScratchMax || len(sc.groups) > produceScratchMax || len(sc.resps) > produceScratchMax {
		return
	}
	clear(sc.resps)
	clear(sc.targets)
	clear(sc.batches)
	clear(sc.outcomes)
	for i := range sc.groups {
		sc.groups[i] = partitionTargets{targets: sc.groups[i].targets[:0]}
	}
	sc.resps, sc.targets, sc.groups = sc.resps[:0], sc.targets[:0], sc.groups[:0]
	sc.batches, sc.outcomes, sc.byPart = sc.batches[:0], sc.outcomes[:0], nil
	produceScratches.Put(sc)
}

// commitTimeout is how long an acks=-1 request waits for its records to
// commit: its timeout_ms, 30 s when it gives none.
func commitTimeout(timeoutMillis int32) time.Duration {
	if timeoutMillis <= 0 {
		return 30 * time.Second
	}
	return time.Duration(timeoutMillis) * time.Millisecond
}

// finishResults answers, in order, the requests of out that
// handleProduces left to their Finish.
func finishResults(ctx context.Context, out []kafkaserver.Result) {
	for i := range out {
		if f := out[i].Finish; f != nil {
			out[i].Response, out[i].Err = f(ctx)
			out[i].Finish = nil
		}
	}
}

// awaitCommit waits, until deadline, until each wait's records are
// committed; a partition whose records are not gets the error.
func (b *Broker) awaitCommit(ctx context.Context, deadline time.Time, waits []produceWait) {
	// Records are often committed by now (a partition without
	// followers commits on append): those need no timer.
	for len(waits) > 0 {
		if _, done, _ := waits[0].p.committed(waits[0].lastOffset, waits[0].leaderEpoch); !done {
			break
		}
		waits = waits[1:]
	}
	if len(waits) == 0 {
		return
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, w := range waits {
		if err := w.p.commit(wctx, w.lastOffset, w.leaderEpoch); err != nil {
			w.rp.BaseOffset, w.rp.LogAppendTime, w.rp.LogStartOffset = -1, -1, -1
			b.setProduceError(w.rp, w.p.tp.Topic, err)
		}
	}
}

// setProduceError answers a partition with err's Kafka code and message and
// the records err names at fault, logging errors that have no code.
func (b *Broker) setProduceError(rp *kmsg.ProduceResponseTopicPartition, topic string, err error) {
	rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
	setRecordErrors(rp, err)
	if rp.ErrorCode == kerr.UnknownServerError.Code {
		b.log.Error("produce", "topic", topic, "partition", rp.Partition, "error", err)
	}
}

// produceRefusal returns why req is refused as a whole, or nil.
func produceRefusal(req *kmsg.ProduceRequest) error {
	switch {
	case req.Version < minProduceVersion:
		return fmt.Errorf("%w: produce v%d is not served; v3 and later are", kerr.UnsupportedVersion, req.Version)
	case req.TransactionID != nil || hasTransactionalRecords(req):
		// Transactions need a transaction coordinator, which Runnel does
		// not run: no transactional id is usable, and transactional
		// batches need one.
		return errTransactionsUnsupported
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return kerr.InvalidRequiredAcks
	}
	return nil
}

// refusedProduce answers a request refused as a whole: every partition
// gets err; with acks=0, which expects no answer, the connection closes
// instead, as Kafka closes it when it cannot take an acks=0 request, so
// that the client sees the failure.
func refusedProduce(req *kmsg.ProduceRequest, err error) kafkaserver.Result {
	if req.Acks == 0 {
		return kafkaserver.Result{Err: fmt.Errorf("refused an acks=0 produce request, closing the connection: %w", err)}
	}
	return kafkaserver.Result{Response: produceError(req, err)}
}

// produceError answers every partition of req with err's code and message.
func produceError(req *kmsg.ProduceRequest, err error) *kafkaserver.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = p.Partition, errorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}
}
