package broker

import (
	"context"
	"fmt"
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
	resps := make([]*kmsg.ProduceResponse, len(reqs))
	now := time.Now()
	n := 0
	for _, r := range reqs {
		for _, t := range r.Msg.(*kmsg.ProduceRequest).Topics {
			n += len(t.Partitions)
		}
	}
	var (
		targets = make([]produceTarget, 0, n)
		groups  []partitionTargets
		byPart  map[*partition]int // index in groups
	)
	for i, r := range reqs {
		req := r.Msg.(*kmsg.ProduceRequest)
		if err := produceRefusal(req); err != nil {
			out[i] = refusedProduce(req, err)
			continue
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
		for ti, t := range req.Topics {
			rt := &resp.Topics[ti]
			*rt = kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
			for pi, tp := range t.Partitions {
				rp := &rt.Partitions[pi]
				*rp = kmsg.NewProduceResponseTopicPartition()
				rp.Partition = tp.Partition
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
				p, err := b.partitionFor(t.Topic, tp.Partition)
				if err != nil {
					b.setProduceError(rp, t.Topic, err)
					continue
				}
				batch, err := p.validateProduced(tp.Records, req.Version, now)
				if err == nil && req.Acks == -1 {
					err = p.checkMinISR()
				}
				if err != nil {
					b.setProduceError(rp, t.Topic, err)
					continue
				}
				g, ok := byPart[p]
				if !ok {
					if byPart == nil {
						byPart = make(map[*partition]int)
					}
					g = len(groups)
					byPart[p] = g
					groups = append(groups, partitionTargets{p: p})
				}
				groups[g].targets = append(groups[g].targets, len(targets))
				targets = append(targets, produceTarget{req: i, topic: t.Topic, rp: rp, batch: batch})
			}
		}
		resps[i] = resp
	}

	var (
		waits    [][]produceWait // by request
		batches  = make([]producedBatch, 0, len(targets))
		outcomes = make([]appendOutcome, 0, len(targets))
	)
	for _, g := range groups {
		batches, outcomes = batches[:0], outcomes[:0]
		for _, ti := range g.targets {
			batches = append(batches, targets[ti].batch)
			outcomes = append(outcomes, appendOutcome{})
		}
		logAppendTime := g.p.appendEach(batches, outcomes)
		logStart := g.p.log.Offsets().LogStart
		for k, ti := range g.targets {
			t, o := &targets[ti], outcomes[k]
			if o.err != nil {
				b.setProduceError(t.rp, t.topic, o.err)
				// Kafka gives the log start with a refusal, so that a
				// producer told UNKNOWN_PRODUCER_ID can see whether
				// retention removed its batches. That error and the
				// log start came with produce v5; an older client gets
				// the error it knows for the same case.
				t.rp.LogStartOffset = logStart
				if t.rp.ErrorCode == kerr.UnknownProducerID.Code && reqs[t.req].Msg.GetVersion() < 5 {
					t.rp.ErrorCode = kerr.OutOfOrderSequenceNumber.Code
				}
				continue
			}
			t.rp.BaseOffset, t.rp.LogAppendTime, t.rp.LogStartOffset = o.firstOffset, -1, logStart
			if !o.dup {
				t.rp.LogAppendTime = logAppendTime
			}
			if reqs[t.req].Msg.(*kmsg.ProduceRequest).Acks == -1 && !unsafeAcksAtAppend {
				if waits == nil {
					waits = make([][]produceWait, len(reqs))
				}
				waits[t.req] = append(waits[t.req], produceWait{g.p, o.lastOffset, o.leaderEpoch, t.rp})
			}
		}
	}

	for i, resp := range resps {
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
