package recordbatchtest

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FranzGoDecode decodes batches, concatenated as a Fetch response carries
// them, with the code a franz-go consumer runs on them
// (kgo.ProcessFetchPartition with the default decompressor), starting at
// offset. It returns the records franz-go yields and the error it reports.
//
// franz-go skips what it cannot decode rather than always reporting it (a
// batch whose records end early yields fewer records and no error), so
// callers compare the records with what the batches' headers promise.
func FranzGoDecode(batches []byte, offset int64) ([]*kgo.Record, error) {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.RecordBatches = batches
	rp.HighWatermark, rp.LastStableOffset = -1, -1
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: offset, Topic: "t"}, &rp, kgo.DefaultDecompressor(), nil)
	return fp.Records, fp.Err
}
