package controller

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// AddRemoteSegment records a segment uploaded to the object store. It fails
// with metadata.ErrFencedRemoteUpload unless req.BrokerID leads the
// partition at req.Segment.LeaderEpoch, with metadata.ErrRemoteSegmentExists
// if the object key is already recorded for the partition, and with
// metadata.ErrRemoteSegmentBehind if the segment does not end past the
// partition's remote end offset.
func (c *Controller) AddRemoteSegment(ctx context.Context, req RemoteSegmentRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	_, err := c.proposeLocked(ctx, metadata.Record{RemoteSegmentAdded: &metadata.RemoteSegmentAdded{
		ID: req.TopicID, Partition: req.Partition, Segment: req.Segment, BrokerID: req.BrokerID,
	}})
	return err
}

// RemoveRemoteSegment forgets a remote segment, for the partition's leader
// (checkPartitionLeader). It fails with metadata.ErrUnknownRemoteSegment if
// the key is not recorded.
func (c *Controller) RemoveRemoteSegment(ctx context.Context, req RemoteSegmentRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	if _, err := checkPartitionLeader(c.image(), req.TopicID, req.Partition, req.BrokerID, req.LeaderEpoch); err != nil {
		return err
	}
	_, err := c.proposeLocked(ctx, metadata.Record{RemoteSegmentRemoved: &metadata.RemoteSegmentRemoved{
		ID: req.TopicID, Partition: req.Partition, ObjectKey: req.Segment.ObjectKey,
	}})
	return err
}
