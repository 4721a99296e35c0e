package broker

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftnode"
)

var _ Member = (*raftmeta.Member)(nil)

// Member is what a broker needs of its cluster metadata member: the image it
// follows, the controller it asks for changes, and the metadata quorum it
// can grow or shrink. *raftmeta.Member implements it over etcd-raft;
// raftmetatest.Member is an in-memory one for handler tests, where tests set
// leaders, ISRs and epochs with metadata records.
type Member interface {
	MetadataView
	ControllerClient
	Quorum
}

// MetadataView is the metadata image as this broker's member has applied
// it, and how far that is.
type MetadataView interface {
	// Image returns the current image; it never changes once returned.
	Image() *metadata.Image
	// Watch returns the current image and a channel closed when a newer one
	// is applied.
	Watch() (*metadata.Image, <-chan struct{})
	// CaughtUp is closed once this broker registered with the controller
	// in this process, with an image at least as new as any state it
	// wrote before it started (raftmeta.Member.CaughtUp).
	CaughtUp() <-chan struct{}
	// BrokerEpoch is this broker's epoch, 0 until it has registered.
	BrokerEpoch() uint64
	// AppliedIndex and CommitIndex are the metadata log entries applied to
	// the image and known to be committed: the image is caught up with
	// the log when they are equal.
	AppliedIndex() uint64
	CommitIndex() uint64
}

// ControllerClient asks the active controller for metadata changes. Each
// call returns once the change is applied to this member's image (or
// refused, with an error wrapping the metadata and controller sentinels).
type ControllerClient interface {
	CreateTopic(ctx context.Context, req controller.CreateTopicRequest) (*metadata.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, req controller.CreatePartitionsRequest) (*metadata.Topic, error)
	AlterConfigs(ctx context.Context, req controller.AlterConfigsRequest) error
	AllocateProducerIDs(ctx context.Context, req controller.AllocateProducerIDsRequest) (controller.ProducerIDBlock, error)
	// AlterScramCredentials sets and deletes SCRAM credentials.
	AlterScramCredentials(ctx context.Context, req controller.AlterScramCredentialsRequest) error
	// AlterACLs creates and deletes ACLs.
	AlterACLs(ctx context.Context, req controller.AlterACLsRequest) error
	// AlterPartition changes the ISR of a partition this broker leads.
	AlterPartition(ctx context.Context, req controller.AlterPartitionRequest) (metadata.Partition, error)
	// ElectLeaders runs preferred or unclean leader elections.
	ElectLeaders(ctx context.Context, req controller.ElectLeadersRequest) ([]controller.PartitionResult, error)
	// ReassignPartitions starts or cancels replica reassignments.
	ReassignPartitions(ctx context.Context, req controller.ReassignRequest) ([]controller.PartitionResult, error)
	// RemoveRemoteSegment forgets a remote segment of a partition this
	// broker leads (remote retention), before its objects are deleted.
	RemoveRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error
	// MoveRemoteLogStart moves the remote log start of a partition this
	// broker leads forward (DeleteRecords).
	MoveRemoteLogStart(ctx context.Context, req controller.RemoteLogStartRequest) error
}

// Quorum is the metadata group's membership (KIP-853's AddRaftVoter and
// RemoveRaftVoter) and its leader, the node of the active controller.
type Quorum interface {
	// Leader is the node id of the metadata leader as this member knows
	// it, 0 if unknown.
	Leader() uint64
	AddLearner(ctx context.Context, id uint64, addr string) error
	AddVoter(ctx context.Context, id uint64, addr string) error
	RemoveVoter(ctx context.Context, id uint64) error
	// QuorumState is the group's membership and every member's log
	// progress as the raft leader knows it (DescribeQuorum; AddRaftVoter
	// waits with it for a new voter to catch up).
	QuorumState(ctx context.Context) (raftnode.QuorumState, error)
}
