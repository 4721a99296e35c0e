package raftmetatest

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta/controller"
)

// AddRemoteSegment records a remote segment through the controller.
func (m *Member) AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.ctrl.AddRemoteSegment(ctx, req)
}

// RemoveRemoteSegment forgets a remote segment through the controller.
func (m *Member) RemoveRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error {
	return m.ctrl.RemoveRemoteSegment(ctx, req)
}

// MoveRemoteLogStart moves a partition's remote log start forward through
// the controller.
func (m *Member) MoveRemoteLogStart(ctx context.Context, req controller.RemoteLogStartRequest) error {
	return m.ctrl.MoveRemoteLogStart(ctx, req)
}
