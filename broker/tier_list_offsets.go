package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/commitlog"
)

// listOffsetTiered is listOffset for a partition that may have remote
// segments: for clients (not brokers), earliest is the remote start, and a
// timestamp is looked up in the remote segments below the local log start
// first (through their time indexes), then in the local log. The largest
// timestamp (-3) is the local log's.
func (b *Broker) listOffsetTiered(ctx context.Context, p *partition, ts int64, bound commitlog.Bound, fromBroker bool) (int64, int64, error) {
	mp, tiered := b.remotePartition(b.member.Image(), p)
	if !tiered || fromBroker || (ts < 0 && ts != earliestTimestamp) {
		return listOffset(p.log, ts, bound)
	}
	local := p.log.Offsets()
	start := logStartOffset(mp, local.LogStart)
	if ts == earliestTimestamp {
		return start, -1, nil
	}
	ctx, cancel := context.WithTimeout(ctx, remoteReadTimeout)
	defer cancel()
	for _, seg := range mp.RemoteSegments {
		if seg.BaseOffset >= local.LogStart {
			break // the local log holds the rest
		}
		if seg.EndOffset < start || seg.MaxTimestamp < ts {
			continue
		}
		off, found, ok, err := b.remote.OffsetForTimestamp(ctx, seg, ts, start)
		if err != nil {
			return -1, -1, remoteErr(err)
		}
		if ok {
			return off, found, nil
		}
	}
	return listOffset(p.log, ts, bound)
}
