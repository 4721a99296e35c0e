package broker

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group APIs: the broker hands each request to its group coordinator
// (broker/group); FindCoordinator is answered here from the metadata.
func init() {
	register(kmsg.FindCoordinator, 0, 4, (*Broker).handleFindCoordinator)
	register(kmsg.JoinGroup, 0, 9, func(b *Broker, ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		req := r.Msg.(*kmsg.JoinGroupRequest)
		return respond(b.groups.JoinGroup(ctx, req, clientID(r), clientHost(r)), req.Version)
	})
	register(kmsg.SyncGroup, 0, 5, func(b *Broker, ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.SyncGroup(ctx, r.Msg.(*kmsg.SyncGroupRequest)), r.Version)
	})
	register(kmsg.Heartbeat, 0, 4, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.Heartbeat(r.Msg.(*kmsg.HeartbeatRequest)), r.Version)
	})
	register(kmsg.LeaveGroup, 0, 5, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.LeaveGroup(r.Msg.(*kmsg.LeaveGroupRequest)), r.Version)
	})
	register(kmsg.OffsetCommit, 0, 9, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.OffsetCommit(r.Msg.(*kmsg.OffsetCommitRequest)), r.Version)
	})
	register(kmsg.OffsetFetch, 0, 9, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.OffsetFetch(r.Msg.(*kmsg.OffsetFetchRequest)), r.Version)
	})
	register(kmsg.ListGroups, 0, 5, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.ListGroups(r.Msg.(*kmsg.ListGroupsRequest)), r.Version)
	})
	register(kmsg.DescribeGroups, 0, 5, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.DescribeGroups(r.Msg.(*kmsg.DescribeGroupsRequest)), r.Version)
	})
	register(kmsg.DeleteGroups, 0, 2, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.DeleteGroups(r.Msg.(*kmsg.DeleteGroupsRequest)), r.Version)
	})
	register(kmsg.ConsumerGroupHeartbeat, 0, 1, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.ConsumerGroupHeartbeat(r.Msg.(*kmsg.ConsumerGroupHeartbeatRequest), clientID(r), clientHost(r)), r.Version)
	})
	register(kmsg.ConsumerGroupDescribe, 0, 1, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.ConsumerGroupDescribe(r.Msg.(*kmsg.ConsumerGroupDescribeRequest)), r.Version)
	})
	register(kmsg.OffsetDelete, 0, 0, func(b *Broker, _ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
		return respond(b.groups.OffsetDelete(r.Msg.(*kmsg.OffsetDeleteRequest)), r.Version)
	})
}

// respond wraps a coordinator's answer, in the request's version.
func respond(msg kmsg.Response, version int16) (*kafkaserver.Response, error) {
	msg.SetVersion(version)
	return &kafkaserver.Response{Msg: msg}, nil
}

// clientHost is what Kafka reports as a member's host: "/" and its IP.
func clientHost(r *kafkaserver.Request) string {
	if r.Conn.RemoteAddr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(r.Conn.RemoteAddr.String())
	if err != nil {
		host = r.Conn.RemoteAddr.String()
	}
	return "/" + host
}

// Coordinator key types of FindCoordinator.
const (
	coordinatorKeyGroup       = 0
	coordinatorKeyTransaction = 1
)

// handleFindCoordinator answers where a group's coordinator is: the leader
// of its partition of __consumer_offsets, which is created on the first
// request. Transactions have no coordinator in Runnel: their keys are
// answered COORDINATOR_NOT_AVAILABLE with a message.
func (b *Broker) handleFindCoordinator(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		node, host, port, err := b.findCoordinator(ctx, req.CoordinatorType, key, r.Conn.Listener)
		if err != nil {
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			c.NodeID, c.Host, c.Port = node, host, port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

func (b *Broker) findCoordinator(ctx context.Context, keyType int8, key, listener string) (int32, string, int32, error) {
	switch keyType {
	case coordinatorKeyGroup:
	case coordinatorKeyTransaction:
		return 0, "", 0, errTransactionsUnsupported
	default:
		return 0, "", 0, fmt.Errorf("%w: unknown coordinator key type %d", kerr.InvalidRequest, keyType)
	}
	if key == "" {
		return 0, "", 0, fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
	}
	t, err := b.offsetsTopic(ctx)
	if err != nil {
		return 0, "", 0, err
	}
	mp := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
	img := b.member.Image()
	for _, br := range img.Brokers() {
		if br.ID != mp.Leader || br.Fenced {
			continue
		}
		host, port, ok := advertisedOn(br, listener)
		if !ok {
			break
		}
		return br.ID, host, port, nil
	}
	return 0, "", 0, fmt.Errorf("%w: partition %d of %s has no live leader", kerr.CoordinatorNotAvailable, mp.Index, metadata.TopicConsumerOffsets)
}

// offsetsTopicConfigs are the configurations __consumer_offsets is created
// with, in order of preference: compacted as Kafka's (the last record of
// every key kept), or, on a broker whose controller refuses compaction,
// kept whole forever, so no committed offset is ever lost to retention.
var offsetsTopicConfigs = []map[string]string{
	{"cleanup.policy": "compact"},
	{"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
}

// offsetsTopic returns __consumer_offsets, creating it on first use with
// the configured partitions and min(offsets.topic.replication.factor, live
// brokers) replicas (Kafka refuses to create it with fewer live brokers
// than the factor; Runnel takes what there is, so a one-broker cluster
// has groups).
func (b *Broker) offsetsTopic(ctx context.Context) (*metadata.Topic, error) {
	if t, ok := b.member.Image().Topic(metadata.TopicConsumerOffsets); ok {
		return t, nil
	}
	cfg := b.groups.Config()
	live := 0
	for _, br := range b.member.Image().Brokers() {
		if !br.Fenced {
			live++
		}
	}
	rf := min(int(cfg.ReplicationFactor), live)
	if rf < 1 {
		return nil, fmt.Errorf("%w: no live brokers to host %s", kerr.CoordinatorNotAvailable, metadata.TopicConsumerOffsets)
	}
	var err error
	for _, config := range offsetsTopicConfigs {
		var t *metadata.Topic
		t, err = b.createInternalTopic(ctx, metadata.TopicConsumerOffsets, cfg.NumPartitions, int16(rf), config)
		if err == nil {
			return t, nil
		}
		if errors.Is(err, metadata.ErrTopicExists) {
			if t, ok := b.member.Image().Topic(metadata.TopicConsumerOffsets); ok {
				return t, nil
			}
			break
		}
		b.log.Warn("create offsets topic", "config", config, "error", err)
	}
	return nil, fmt.Errorf("%w: %s is being created (%v)", kerr.CoordinatorNotAvailable, metadata.TopicConsumerOffsets, err)
}
