package httpapi

import (
	"context"

	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
)

// Backend is what the REST API needs of the cluster; *backend.Backend
// implements it. Errors meant for the client are *apierr.Error values.
type Backend interface {
	// Produce writes events to topic in request order and returns where
	// each went. idempotencyKey, when not empty, makes a retry with the
	// same key return the first answer and write nothing new, across
	// gateways and restarts.
	Produce(ctx context.Context, topic string, acks backend.Acks, events []event.Event, idempotencyKey string) ([]backend.Result, error)
	// Fetch reads a partition from offset on, long-polling up to
	// opts.Wait when offset is at the high watermark.
	Fetch(ctx context.Context, topic string, partition int32, offset int64, opts backend.FetchOptions) (event.Batch, error)
	// Offsets lists every partition's bounds and, when timestamp is not
	// nil, the first offset at or after it.
	Offsets(ctx context.Context, topic string, timestamp *int64) ([]backend.PartitionOffsets, error)

	CreateTopic(ctx context.Context, spec backend.TopicSpec) (backend.TopicInfo, error)
	ListTopics(ctx context.Context) ([]backend.TopicInfo, error)
	DescribeTopic(ctx context.Context, name string) (backend.TopicInfo, error)
	AlterTopic(ctx context.Context, name string, change backend.TopicChange) (backend.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error

	// ListGroups lists the cluster's consumer groups by name.
	ListGroups(ctx context.Context) ([]backend.GroupSummary, error)
	// DescribeGroup describes a group: members, assignment, committed
	// offsets and lag; 404 group_not_found for an unknown group.
	DescribeGroup(ctx context.Context, group string) (backend.GroupInfo, error)
	// CommitGroupOffset commits one offset for a group without live
	// members (409 otherwise).
	CommitGroupOffset(ctx context.Context, group, topic string, partition int32, offset int64) (backend.CommittedOffset, error)
	// ResetGroupOffsets moves a group without live members (409
	// otherwise) on a topic's partitions, or on one of them.
	ResetGroupOffsets(ctx context.Context, group, topic string, partition *int32, to backend.ResetTo) ([]backend.CommittedOffset, error)
	// CommittedOffsetOf is a group's committed offset on a partition, and
	// whether it has one.
	CommittedOffsetOf(ctx context.Context, group, topic string, partition int32) (int64, bool, error)
	// DeleteGroup deletes a group without live members (409 otherwise).
	DeleteGroup(ctx context.Context, group string) error

	// Ready says whether metadata is loaded and a broker answers.
	Ready(ctx context.Context) error

	scramBackend
}
