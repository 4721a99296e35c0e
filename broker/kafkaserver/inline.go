package kafkaserver

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Inline returns the message a client would decode from r when it answers a
// request of the given key and version, for a caller in the same process
// that takes responses as messages rather than bytes (see
// broker.HandleLocal): r.Msg, its version set, with the record batches of a
// Fetch response that are file regions (splices) read from their files into
// memory in place of their placeholders, so that the message shares nothing
// with the files: the caller may call r.Release at once.
func (r *Response) Inline(key, version int16) (kmsg.Response, error) {
	if r.Msg == nil {
		if len(r.splices) > 0 {
			return nil, fmt.Errorf("kafkaserver: response has %d splices and no message", len(r.splices))
		}
		return nil, nil
	}
	if r.Msg.Key() != key {
		return nil, fmt.Errorf("kafkaserver: a %s request was answered with a %s response", kmsg.NameForKey(key), kmsg.NameForKey(r.Msg.Key()))
	}
	r.Msg.SetVersion(version)
	if len(r.splices) == 0 {
		return r.Msg, nil
	}
	fr, ok := r.Msg.(*kmsg.FetchResponse)
	if !ok {
		return nil, fmt.Errorf("kafkaserver: a %s response has file regions; only Fetch record batches may", kmsg.NameForKey(key))
	}
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			rp := &fr.Topics[i].Partitions[j]
			data, spliced, err := r.ReadSplice(rp.RecordBatches)
			if err != nil {
				return nil, fmt.Errorf("kafkaserver: read the record batches of %s/%d: %w", fr.Topics[i].Topic, rp.Partition, err)
			}
			if spliced {
				rp.RecordBatches = data
			}
		}
	}
	return fr, nil
}
