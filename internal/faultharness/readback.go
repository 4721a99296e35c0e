package faultharness

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadBack reads every partition of topic from its log start offset to its
// high watermark (as ListOffsets reports them) and returns the records of
// each partition in offset order. The cluster should be healed and in sync.
func (c *Cluster) ReadBack(ctx context.Context, topic string) (map[int32][]LogRecord, error) {
	adm := c.Admin()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("read back %s: list start offsets: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("read back %s: list end offsets: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	hw := map[int32]int64{}
	out := map[int32][]LogRecord{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = fmt.Errorf("read back %s/%d: high watermark: %w", topic, o.Partition, o.Err)
		}
		hw[o.Partition] = o.Offset
		out[o.Partition] = nil
	})
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = fmt.Errorf("read back %s/%d: log start: %w", topic, o.Partition, o.Err)
		}
		if o.Offset < hw[o.Partition] {
			from[o.Partition] = kgo.NewOffset().At(o.Offset)
		}
	})
	if lerr != nil {
		return nil, lerr
	}
	if len(from) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	left := len(from)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read back %s: %d partitions not read up to their high watermark: %w", topic, left, ctx.Err())
		}
		fs.EachError(func(t string, p int32, err error) {
			if lerr == nil {
				lerr = fmt.Errorf("read back %s/%d: %w", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= hw[r.Partition] {
				return
			}
			out[r.Partition] = append(out[r.Partition], LogRecord{Offset: r.Offset, Value: r.Value})
			if r.Offset == hw[r.Partition]-1 {
				left--
			}
		})
		if lerr != nil {
			return nil, lerr
		}
	}
	return out, nil
}
