package raftnode

import (
	"fmt"

	"go.etcd.io/raft/v3/confchange"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// validateConfChange checks cc against the configuration cs it will be applied to,
// exactly as raft will (raft panics on an invalid change, so it must be caught
// first). Every node sees the same cs at the same index, so every node decides the
// same way.
func validateConfChange(cs *pb.ConfState, lastIndex uint64, cc *pb.ConfChangeV2) error {
	if t := cc.GetTransition(); t < pb.ConfChangeTransitionAuto || t > pb.ConfChangeTransitionJointExplicit {
		return fmt.Errorf("unknown transition %d", t)
	}
	for _, c := range cc.GetChanges() {
		if c.GetNodeId() == 0 {
			return fmt.Errorf("change %v names node 0", c.GetType())
		}
		switch c.GetType() {
		case pb.ConfChangeAddNode, pb.ConfChangeRemoveNode, pb.ConfChangeUpdateNode, pb.ConfChangeAddLearnerNode:
		default:
			return fmt.Errorf("unknown change type %d", c.GetType())
		}
	}
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: lastIndex}
	cfg, trk, err := confchange.Restore(chg, cs)
	if err != nil {
		return fmt.Errorf("current configuration: %w", err)
	}
	chg.Tracker.Config, chg.Tracker.Progress = cfg, trk
	switch autoLeave, joint := cc.EnterJoint(); {
	case cc.LeaveJoint():
		_, _, err = chg.LeaveJoint()
	case joint:
		_, _, err = chg.EnterJoint(autoLeave, cc.GetChanges()...)
	default:
		_, _, err = chg.Simple(cc.GetChanges()...)
	}
	return err
}

func describeConfChange(cc *pb.ConfChangeV2) string {
	if cc.LeaveJoint() {
		return "leave-joint"
	}
	return confchange.Describe(cc.GetChanges()...)
}
