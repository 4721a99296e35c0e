package raftmetatest

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta/controller"
)

// MoveRemoteLogStart moves a partition's remote log start forward through
// the controller.
func (m *Member) MoveRemoteLogStart(ctx context.Context, req controller.RemoteLogStartRequest) error {
	return m.ctrl.MoveRemoteLogStart(ctx, req)
}
