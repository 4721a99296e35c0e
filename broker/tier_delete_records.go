package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/twmb/franz-go/pkg/kerr"
)

// deleteRecords is DeleteRecords on one partition this broker leads. On a
// partition with remote segments the log starts at its remote start: an
// offset past it moves the remote log start there first (a metadata record,
// fenced on this broker's leadership, which readers see at once), then the
// local log start when the offset lies past it too; the remote segments
// wholly below the new start are deleted by the housekeeping, which is
// woken for it. The answer is the new start and whether it moved.
func (b *Broker) deleteRecords(ctx context.Context, p *partition, offset int64) (int64, bool, error) {
	mp, ok := b.member.Image().Partition(p.topicID, p.tp.Partition)
	remoteStart, tiered := mp.RemoteStart()
	if !ok || !tiered {
		return deleteRecordsBefore(p.log, offset)
	}
	hw := p.log.Offsets().HighWatermark
	if offset == deleteToHighWatermark {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, false, kerr.OffsetOutOfRange
	}
	if offset <= remoteStart {
		return remoteStart, false, nil
	}
	err := b.member.MoveRemoteLogStart(ctx, controller.RemoteLogStartRequest{
		TopicID: p.topicID, Partition: p.tp.Partition, Offset: offset,
		BrokerID: b.cfg.BrokerID, LeaderEpoch: mp.LeaderEpoch,
	})
	if errors.Is(err, controller.ErrNotLeader) || errors.Is(err, controller.ErrFencedLeaderEpoch) {
		return -1, false, fmt.Errorf("%w: %v", errNotLeader, err)
	}
	if err != nil {
		return -1, false, fmt.Errorf("move the remote log start to %d: %w", offset, err)
	}
	b.tierMaint.poke()
	if _, _, err := deleteRecordsBefore(p.log, offset); err != nil {
		return -1, false, err
	}
	return offset, true, nil
}
