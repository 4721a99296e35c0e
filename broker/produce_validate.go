package broker

import (
	"errors"
	"io"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/idemwindow"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producedBatch is one partition's batch of a produce request, checked
// whole by validateProduced, with what the append needs of it parsed once:
// its header (commitlog.ValidBatch) and the HTTP Idempotency-Key of its
// first record.
type producedBatch struct {
	commitlog.ValidBatch
	key []byte // nil when the batch carries no key; aliases the batch
}

// keyed reports whether the batch carries an Idempotency-Key.
func (b *producedBatch) keyed() bool { return b.key != nil }

// validateProduced checks the records of one partition of a produce request
// before anything of the request is appended, as Kafka does
// (ProduceRequest.validateRecords, then its LogValidator): exactly one batch
// of magic 2, zstd only from produce v7, and the batch itself fully, every
// record decoded and checked under the topic's rules
// (recordbatch.ValidateProduced). So nothing a reader cannot decode is ever
// stored. When a CreateTime batch's header max timestamp is not its records'
// largest, the records' is stamped in, as Kafka does. now is the broker's
// clock for the topic's timestamp window. The batch is parsed here only:
// the append works from the returned header.
//
// A partition not led here is answered NOT_LEADER_OR_FOLLOWER before
// anything else, which sends the client to the leader; the append checks
// leadership again.
func (p *partition) validateProduced(records []byte, version int16, now time.Time) (producedBatch, error) {
	st := p.state.Load()
	if !st.isLeader {
		return producedBatch{}, errNotLeader
	}
	batch, rest, err := recordbatch.Next(records)
	switch {
	case err == io.EOF:
		return producedBatch{}, refuse(kerr.InvalidRecord, "a produce request carries exactly one record batch per partition; this partition's records are empty")
	case errors.Is(err, recordbatch.ErrUnsupportedMagic):
		return producedBatch{}, refuse(kerr.InvalidRecord, "produce requests v3 and later carry record batches of magic 2 only: %v", err)
	case err != nil:
		return producedBatch{}, err
	case len(rest) > 0:
		return producedBatch{}, refuse(kerr.InvalidRecord, "a produce request carries exactly one record batch per partition; this partition's records hold more")
	}
	if version < 7 && recordbatch.CodecOf(batch) == recordbatch.CodecZstd {
		return producedBatch{}, refuse(kerr.UnsupportedCompressionType, "zstd-compressed batches need produce v7 or later; this request is v%d", version)
	}
	rules := st.rules
	rules.Now = now.UnixMilli()
	pr, err := recordbatch.ValidateProduced(batch, rules)
	if err != nil {
		return producedBatch{}, err
	}
	out := producedBatch{ValidBatch: commitlog.ValidBatch{Bytes: batch, Header: pr.Header}}
	if !rules.LogAppendTime && pr.MaxTimestamp != pr.Header.MaxTimestamp {
		recordbatch.SetMaxTimestamp(batch, &out.Header, recordbatch.TimestampCreate, pr.MaxTimestamp)
	}
	if key, ok := idemwindow.KeyIn(batch, &out.Header); ok {
		out.key = key // a slice of the batch: non-nil, even when empty
	}
	return out, nil
}

// hasTransactionalRecords reports whether any partition of req starts with a
// transactional batch. Kafka refuses such a request as a whole when it names
// no transactional id it may use; Runnel refuses every one
// (errTransactionsUnsupported).
func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		if transactionalIn(t.Partitions) {
			return true
		}
	}
	return false
}

// transactionalIn reports whether any of parts starts with a transactional
// batch.
func transactionalIn(parts []kmsg.ProduceRequestTopicPartition) bool {
	for _, p := range parts {
		if h, err := recordbatch.ParseHeader(p.Records); err == nil && h.IsTransactional() {
			return true
		}
	}
	return false
}

// setRecordErrors names in rp the records err holds at fault (Kafka's
// per-record errors, produce v8+; older versions do not carry them).
func setRecordErrors(rp *kmsg.ProduceResponseTopicPartition, err error) {
	var be *recordbatch.BatchError
	if !errors.As(err, &be) {
		return
	}
	for _, re := range be.Records {
		er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		msg := re.Message
		er.RelativeOffset, er.ErrorMessage = re.Index, &msg
		rp.ErrorRecords = append(rp.ErrorRecords, er)
	}
}
