package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 4, (*Broker).handleInitProducerID) }

// maxProducerEpoch is the highest epoch a producer id is bumped to; a bump
// past it gets a fresh producer id instead (Kafka: Short.MaxValue - 1).
const maxProducerEpoch = 32766

// handleInitProducerID hands idempotent producers an id, unique in the
// cluster, with epoch 0. A producer that presents its id and epoch (v3+,
// KIP-360, after an unknown-producer or sequence error) gets the same id with
// the next epoch, which restarts its sequences; at the last epoch, or with an
// id this cluster never handed out, it gets a fresh id. Transactions need a
// transaction coordinator, which Runnel does not run, so transactional ids are
// refused (errTransactionsUnsupported; the response has no message field).
func (b *Broker) handleInitProducerID(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()

	bump := req.Version >= 3 && (req.ProducerID != -1 || req.ProducerEpoch != -1)
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return &kafkaserver.Response{Msg: resp}, nil
	case req.TransactionalID != nil:
		b.log.Info("refused a transactional producer: transactions are not supported", "transactional_id", *req.TransactionalID, "client", clientID(r))
		resp.ErrorCode = errorCode(errTransactionsUnsupported)
		return &kafkaserver.Response{Msg: resp}, nil
	case bump && (req.ProducerID < 0 || req.ProducerEpoch < 0):
		// An id without an epoch, or the reverse: Kafka wants both or neither.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return &kafkaserver.Response{Msg: resp}, nil
	case bump && req.ProducerEpoch < maxProducerEpoch && req.ProducerID < b.member.Image().NextProducerID():
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return &kafkaserver.Response{Msg: resp}, nil
	}
	id, err := b.pids.allocate(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if resp.ErrorCode == kerr.UnknownServerError.Code {
			// The controller could not hand out a block now (say, this
			// broker is re-registering); the client retries.
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		b.log.Warn("init producer id", "error", err)
		return &kafkaserver.Response{Msg: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return &kafkaserver.Response{Msg: resp}, nil
}

// clientID returns the request header's client id, "" when null.
func clientID(r *kafkaserver.Request) string {
	if r.ClientID == nil {
		return ""
	}
	return *r.ClientID
}
