package controller

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// checkPartitionLeader returns the partition when broker leads it in
// leaderEpoch, and otherwise ErrNotLeader or ErrFencedLeaderEpoch: a broker
// deposed since it read its image cannot change what the partition's
// current leader owns (its remote segments, its remote log start).
func checkPartitionLeader(img *metadata.Image, topicID uuid.UUID, partition, broker, leaderEpoch int32) (metadata.Partition, error) {
	t, ok := img.TopicByID(topicID)
	if !ok {
		return metadata.Partition{}, fmt.Errorf("%w: id %s", metadata.ErrUnknownTopic, topicID)
	}
	p, ok := img.Partition(topicID, partition)
	if !ok {
		return metadata.Partition{}, fmt.Errorf("%w: topic %q partition %d", metadata.ErrUnknownPartition, t.Name, partition)
	}
	if p.Leader != broker {
		return metadata.Partition{}, fmt.Errorf("%w: topic %q partition %d is led by %d, not %d", ErrNotLeader, t.Name, partition, p.Leader, broker)
	}
	if p.LeaderEpoch != leaderEpoch {
		return metadata.Partition{}, fmt.Errorf("%w: topic %q partition %d is at leader epoch %d, request has %d", ErrFencedLeaderEpoch, t.Name, partition, p.LeaderEpoch, leaderEpoch)
	}
	return p, nil
}

// MoveRemoteLogStart moves a partition's remote log start forward to
// req.Offset, for its leader (checkPartitionLeader). An offset at or below
// the current remote log start changes nothing and succeeds: DeleteRecords
// retried after a lost answer must not fail.
func (c *Controller) MoveRemoteLogStart(ctx context.Context, req RemoteLogStartRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	p, err := checkPartitionLeader(c.image(), req.TopicID, req.Partition, req.BrokerID, req.LeaderEpoch)
	if err != nil {
		return err
	}
	if req.Offset < 0 {
		return fmt.Errorf("%w: remote log start %d is negative", ErrInvalidRequest, req.Offset)
	}
	if req.Offset <= p.RemoteLogStart {
		return nil
	}
	_, err = c.proposeLocked(ctx, metadata.Record{RemoteLogStartMoved: &metadata.RemoteLogStartMoved{
		ID: req.TopicID, Partition: req.Partition, Offset: req.Offset,
	}})
	return err
}
