package broker

import (
	"context"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Produce, 3, 11, (*Broker).handleProduce) }

// handleProduce appends each partition's records as leader. acks=0 gets no
// answer; acks=1 is answered after the local append; acks=-1 after the high
// watermark passes the records (all in-sync replicas have them).
func (b *Broker) handleProduce(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if req.TransactionID != nil {
		// Transactions need a transaction coordinator, which Runnel does not run.
		return b.produceError(req, kerr.TransactionalIDAuthorizationFailed), nil
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return b.produceError(req, kerr.InvalidRequiredAcks), nil
	}
	wctx := ctx
	if req.Acks == -1 {
		// Only acks=all waits (for the in-sync replicas), bounded by timeout_ms.
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = tp.Partition
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			p, err := b.partitionFor(t.Topic, tp.Partition)
			var res produceResult
			if err == nil {
				res, err = p.append(wctx, tp.Records, req.Acks)
			}
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
				if rp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("produce", "topic", t.Topic, "partition", tp.Partition, "error", err)
				}
			} else {
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = res.baseOffset, res.logAppendTime, res.logStartOffset
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

func (b *Broker) produceError(req *kmsg.ProduceRequest, err *kerr.Error) *kafkaserver.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, err.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}
}
