package broker

import (
	"errors"
	"io"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// validateProduced checks the records of one partition of a produce request
// before anything of the request is appended, as Kafka does
// (ProduceRequest.validateRecords, then its LogValidator): exactly one batch
// of magic 2, zstd only from produce v7, and the batch itself fully, every
// record decoded and checked under the topic's rules
// (recordbatch.ValidateProduced). So nothing a reader cannot decode is ever
// stored. When a CreateTime batch's header max timestamp is not its records'
// largest, the records' is stamped in, as Kafka does. now is the broker's
// clock for the topic's timestamp window.
//
// A partition not led here is answered NOT_LEADER_OR_FOLLOWER before
// anything else, which sends the client to the leader; the append checks
// leadership again.
func (p *partition) validateProduced(records []byte, version int16, now time.Time) error {
	st := p.state.Load()
	if !st.isLeader {
		return errNotLeader
	}
	batch, rest, err := recordbatch.Next(records)
	switch {
	case err == io.EOF:
		return refuse(kerr.InvalidRecord, "a produce request carries exactly one record batch per partition; this partition's records are empty")
	case errors.Is(err, recordbatch.ErrUnsupportedMagic):
		return refuse(kerr.InvalidRecord, "produce requests v3 and later carry record batches of magic 2 only: %v", err)
	case err != nil:
		return err
	case len(rest) > 0:
		return refuse(kerr.InvalidRecord, "a produce request carries exactly one record batch per partition; this partition's records hold more")
	}
	if h, err := recordbatch.ParseHeader(batch); err == nil && h.Codec() == recordbatch.CodecZstd && version < 7 {
		return refuse(kerr.UnsupportedCompressionType, "zstd-compressed batches need produce v7 or later; this request is v%d", version)
	}
	rules := st.rules
	rules.Now = now.UnixMilli()
	pr, err := recordbatch.ValidateProduced(batch, rules)
	if err != nil {
		return err
	}
	if !rules.LogAppendTime && pr.MaxTimestamp != pr.Header.MaxTimestamp {
		recordbatch.SetMaxTimestamp(batch, recordbatch.TimestampCreate, pr.MaxTimestamp)
	}
	return nil
}

// hasTransactionalRecords reports whether any partition of req starts with a
// transactional batch. Kafka refuses such a request as a whole when it names
// no transactional id it may use (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if h, err := recordbatch.ParseHeader(p.Records); err == nil && h.IsTransactional() {
				return true
			}
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
