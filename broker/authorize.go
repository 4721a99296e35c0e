package broker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/saslauth"
)

// Authorization on SASL listeners. Every request of an authenticated
// connection passes its API's rule in authzRules before its handler. A
// rule removes from the request what the principal may not do (topics,
// groups, resources) and returns a patch that adds the refusals to the
// handler's response, with Kafka's *_AUTHORIZATION_FAILED codes, so that
// the allowed part of a request is served as usual; or it refuses the
// whole request. Connections of listeners without SASL carry no identity
// and are not checked (Kafka's PLAINTEXT and SSL listeners without an
// authorizer).

// authzRule checks req for p. whole, if set, answers the request instead
// of the handler; patch, if set, completes the handler's response.
type authzRule func(b *Broker, p saslauth.Principal, req kmsg.Request) (whole kmsg.Response, patch func(kmsg.Response))

// ErrNoPrincipal is returned for a request whose identity carries no
// saslauth.Principal: a mechanism was configured that the broker cannot
// authorize with. The connection is closed; fix the configuration.
var ErrNoPrincipal = errors.New("broker: authenticated identity has no saslauth.Principal")

// authorize applies req's rule. It returns whole to answer instead of the
// handler, or patch (possibly nil) to apply to the handler's response.
func (b *Broker) authorize(req *kafkaserver.Request) (whole *kafkaserver.Response, patch func(kmsg.Response), err error) {
	if req.Identity == nil {
		return nil, nil, nil
	}
	p, ok := req.Identity.Principal.(saslauth.Principal)
	if !ok {
		return nil, nil, fmt.Errorf("%w (%s, %T)", ErrNoPrincipal, req.Identity.Name, req.Identity.Principal)
	}
	rule, ok := authzRules[req.Key]
	if !ok {
		return nil, nil, fmt.Errorf("broker: no authorization rule for %s", kmsg.NameForKey(req.Key))
	}
	w, patch := rule(b, p, req.Msg)
	if w != nil {
		return &kafkaserver.Response{Msg: w}, nil, nil
	}
	return nil, patch, nil
}

// patchResult applies patch to a handler's answer, now or, for a produce
// left to finish, when it finishes.
func patchResult(res *kafkaserver.Result, patch func(kmsg.Response)) {
	if patch == nil {
		return
	}
	if f := res.Finish; f != nil {
		res.Finish = func(ctx context.Context) (*kafkaserver.Response, error) {
			resp, err := f(ctx)
			if err == nil && resp != nil && resp.Msg != nil {
				patch(resp.Msg)
			}
			return resp, err
		}
		return
	}
	if res.Err == nil && res.Response != nil && res.Response.Msg != nil {
		patch(res.Response.Msg)
	}
}

// handleAuthorizedProduces serves pipelined produce requests as
// handleProduces does, each first through its authorization rule.
func (b *Broker) handleAuthorizedProduces(ctx context.Context, reqs []*kafkaserver.Request, out []kafkaserver.Result) {
	if reqs[0].Identity == nil {
		b.handleProduces(ctx, reqs, out)
		return
	}
	patches := make([]func(kmsg.Response), len(reqs))
	var (
		served []*kafkaserver.Request
		at     []int // index in reqs of each served request
	)
	for i, r := range reqs {
		whole, patch, err := b.authorize(r)
		switch {
		case err != nil:
			out[i].Err = err
		case whole != nil:
			out[i].Response = whole
		default:
			patches[i] = patch
			served, at = append(served, r), append(at, i)
		}
	}
	if len(served) == 0 {
		return
	}
	results := make([]kafkaserver.Result, len(served))
	b.handleProduces(ctx, served, results)
	for j, i := range at {
		out[i] = results[j]
		patchResult(&out[i], patches[i])
	}
}

// authzRules maps every API the broker serves to its rule. A key missing
// here closes the connections of authenticated clients that send it; a
// test checks that every registered API has one.
var authzRules = map[int16]authzRule{
	int16(kmsg.Produce):                      authorizeProduce,
	int16(kmsg.Fetch):                        authorizeFetch,
	int16(kmsg.ListOffsets):                  authorizeListOffsets,
	int16(kmsg.Metadata):                     authorizeMetadata,
	int16(kmsg.OffsetForLeaderEpoch):         authorizeOffsetForLeaderEpoch,
	int16(kmsg.OffsetCommit):                 authorizeOffsetCommit,
	int16(kmsg.OffsetFetch):                  authorizeOffsetFetch,
	int16(kmsg.FindCoordinator):              authorizeFindCoordinator,
	int16(kmsg.JoinGroup):                    groupRule(func(r kmsg.Request) string { return r.(*kmsg.JoinGroupRequest).Group }),
	int16(kmsg.SyncGroup):                    groupRule(func(r kmsg.Request) string { return r.(*kmsg.SyncGroupRequest).Group }),
	int16(kmsg.Heartbeat):                    groupRule(func(r kmsg.Request) string { return r.(*kmsg.HeartbeatRequest).Group }),
	int16(kmsg.LeaveGroup):                   groupRule(func(r kmsg.Request) string { return r.(*kmsg.LeaveGroupRequest).Group }),
	int16(kmsg.ConsumerGroupHeartbeat):       groupRule(func(r kmsg.Request) string { return r.(*kmsg.ConsumerGroupHeartbeatRequest).Group }),
	int16(kmsg.DescribeGroups):               authorizeDescribeGroups,
	int16(kmsg.ConsumerGroupDescribe):        authorizeConsumerGroupDescribe,
	int16(kmsg.ListGroups):                   authorizeListGroups,
	int16(kmsg.DeleteGroups):                 authorizeDeleteGroups,
	int16(kmsg.OffsetDelete):                 adminRule(kerr.GroupAuthorizationFailed),
	int16(kmsg.InitProducerID):               authorizeInitProducerID,
	int16(kmsg.CreateTopics):                 authorizeCreateTopics,
	int16(kmsg.DeleteTopics):                 authorizeDeleteTopics,
	int16(kmsg.CreatePartitions):             authorizeCreatePartitions,
	int16(kmsg.DeleteRecords):                authorizeDeleteRecords,
	int16(kmsg.AlterConfigs):                 authorizeAlterConfigs,
	int16(kmsg.IncrementalAlterConfigs):      authorizeIncrementalAlterConfigs,
	int16(kmsg.DescribeConfigs):              authorizeDescribeConfigs,
	int16(kmsg.DescribeCluster):              allowRule,
	int16(kmsg.DescribeLogDirs):              adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.ElectLeaders):                 adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.AlterPartitionAssignments):    adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.ListPartitionReassignments):   adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.DescribeQuorum):               adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.AddRaftVoter):                 adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.RemoveRaftVoter):              adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.DescribeUserSCRAMCredentials): adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.AlterUserSCRAMCredentials):    authorizeAlterUserScramCredentials,
	int16(kmsg.DescribeACLs):                 adminRule(kerr.ClusterAuthorizationFailed),
	int16(kmsg.CreateACLs):                   authorizeCreateAcls,
	int16(kmsg.DeleteACLs):                   authorizeDeleteAcls,
}

// allowRule lets every authenticated principal through (DescribeCluster,
// which Kafka answers to anyone who may connect).
func allowRule(*Broker, saslauth.Principal, kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, nil
}

// refuseWith answers req with its response kind whose top-level ErrorCode
// is code.
func refuseWith(req kmsg.Request, code *kerr.Error) kmsg.Response {
	resp := req.ResponseKind()
	reflect.ValueOf(resp).Elem().FieldByName("ErrorCode").SetInt(int64(code.Code))
	return resp
}

// adminRule refuses the request with code unless p is an admin.
func adminRule(code *kerr.Error) authzRule {
	return func(_ *Broker, p saslauth.Principal, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
		if p.IsAdmin() {
			return nil, nil
		}
		return refuseWith(req, code), nil
	}
}

// groupRule refuses the request with GROUP_AUTHORIZATION_FAILED unless p
// may use the group it names.
func groupRule(group func(kmsg.Request) string) authzRule {
	return func(_ *Broker, p saslauth.Principal, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
		if p.CanUseGroup(group(req)) {
			return nil, nil
		}
		return refuseWith(req, kerr.GroupAuthorizationFailed), nil
	}
}

// split keeps in *items those ok accepts and returns the others.
func split[T any](items *[]T, ok func(T) bool) (denied []T) {
	kept := (*items)[:0:0]
	for _, it := range *items {
		if ok(it) {
			kept = append(kept, it)
		} else {
			denied = append(denied, it)
		}
	}
	*items = kept
	return denied
}

// topicName returns the name of a topic given by name or, when name is
// empty, by id; "" when the id is unknown.
func (b *Broker) topicName(name string, id [16]byte) string {
	if name != "" || id == [16]byte{} {
		return name
	}
	if t, ok := b.member.Image().TopicByID(uuid.UUID(id)); ok {
		return t.Name
	}
	return ""
}

// topicAllowed returns a predicate for topics given by name or id: allowed
// when ok accepts the name. A topic id the cluster does not know passes,
// so that the handler answers UNKNOWN_TOPIC_ID as without authorization.
func (b *Broker) topicAllowed(ok func(string) bool) func(name string, id [16]byte) bool {
	return func(name string, id [16]byte) bool {
		n := b.topicName(name, id)
		if n == "" && id != [16]byte{} {
			return true
		}
		return ok(n)
	}
}

var errTopicAuthz = kerr.TopicAuthorizationFailed.Code

func authorizeProduce(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.ProduceRequest)
	if req.TransactionID != nil && !p.IsAdmin() {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			resp.Topics = append(resp.Topics, deniedProduceTopic(t, kerr.TransactionalIDAuthorizationFailed.Code))
		}
		return resp, nil
	}
	denied := split(&req.Topics, func(t kmsg.ProduceRequestTopic) bool { return p.CanProduce(t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.ProduceResponse)
		for _, t := range denied {
			resp.Topics = append(resp.Topics, deniedProduceTopic(t, errTopicAuthz))
		}
	}
}

func deniedProduceTopic(t kmsg.ProduceRequestTopic, code int16) kmsg.ProduceResponseTopic {
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic = t.Topic
	for _, tp := range t.Partitions {
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.Partition, rp.ErrorCode = tp.Partition, code
		rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

func authorizeFetch(b *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.FetchRequest)
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	allowed := b.topicAllowed(p.CanConsume)
	if replica >= 0 {
		// A follower's fetch: only brokers, whose identities are admins.
		allowed = func(string, [16]byte) bool { return p.IsAdmin() }
	}
	denied := split(&req.Topics, func(t kmsg.FetchRequestTopic) bool { return allowed(t.Topic, t.TopicID) })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.FetchResponse)
		for _, t := range denied {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, tp := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, errTopicAuthz
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

func authorizeListOffsets(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.ListOffsetsRequest)
	denied := split(&req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return p.CanConsume(t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, tp := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, errTopicAuthz
				rp.Timestamp, rp.Offset = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

func authorizeOffsetForLeaderEpoch(b *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.OffsetForLeaderEpochRequest)
	ok := p.CanConsume
	if req.ReplicaID >= 0 {
		ok = func(string) bool { return p.IsAdmin() }
	}
	denied := split(&req.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return ok(t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, tp := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, errTopicAuthz
				rp.LeaderEpoch, rp.EndOffset = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

// authorizeMetadata lists only the topics p may describe: asked for all
// topics, the others are left out; asked for by name, they are answered
// with TOPIC_AUTHORIZATION_FAILED, as Kafka does. A topic is created
// automatically only for a principal that may produce to it (or an admin),
// Kafka's CREATE.
func authorizeMetadata(b *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.MetadataRequest)
	var denied []kmsg.MetadataRequestTopic
	if req.Topics != nil {
		allowed := b.topicAllowed(p.CanDescribe)
		denied = split(&req.Topics, func(t kmsg.MetadataRequestTopic) bool {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			return allowed(name, t.TopicID)
		})
		for _, t := range req.Topics {
			if t.Topic != nil && !p.IsAdmin() && !p.CanProduce(*t.Topic) {
				req.AllowAutoTopicCreation = false
			}
		}
	}
	// The handler's answer may still list topics p may not see: all of
	// them for a null list, or for v0's empty one.
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.MetadataResponse)
		resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.MetadataResponseTopic) bool {
			if t.Topic == nil {
				return t.ErrorCode == 0
			}
			return !p.CanDescribe(*t.Topic)
		})
		for _, t := range denied {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, errTopicAuthz
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

func authorizeOffsetCommit(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.OffsetCommitRequest)
	groupOK := p.CanUseGroup(req.Group)
	denied := split(&req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool { return groupOK && p.CanConsume(t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	code := errTopicAuthz
	if !groupOK {
		code = kerr.GroupAuthorizationFailed.Code
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.OffsetCommitResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, tp := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

// authorizeOffsetFetch refuses the groups p may not use and hides or
// refuses the topics it may not consume: left out when the client asked for
// all of a group's topics, TOPIC_AUTHORIZATION_FAILED when it named them.
func authorizeOffsetFetch(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.OffsetFetchRequest)
	if req.Version < 8 {
		if !p.CanUseGroup(req.Group) {
			return refuseWith(req, kerr.GroupAuthorizationFailed), nil
		}
		return nil, func(m kmsg.Response) {
			resp := m.(*kmsg.OffsetFetchResponse)
			resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.OffsetFetchResponseTopic) bool {
				return req.Topics == nil && !p.CanConsume(t.Topic)
			})
			for i := range resp.Topics {
				if t := &resp.Topics[i]; !p.CanConsume(t.Topic) {
					for j := range t.Partitions {
						t.Partitions[j].ErrorCode, t.Partitions[j].Offset = errTopicAuthz, -1
					}
				}
			}
		}
	}
	denied := split(&req.Groups, func(g kmsg.OffsetFetchRequestGroup) bool { return p.CanUseGroup(g.Group) })
	all := map[string]bool{}
	for _, g := range req.Groups {
		all[g.Group] = g.Topics == nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.OffsetFetchResponse)
		for i := range resp.Groups {
			g := &resp.Groups[i]
			g.Topics = slices.DeleteFunc(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool {
				return all[g.Group] && !p.CanConsume(t.Topic)
			})
			for j := range g.Topics {
				if t := &g.Topics[j]; !p.CanConsume(t.Topic) {
					for k := range t.Partitions {
						t.Partitions[k].ErrorCode, t.Partitions[k].Offset = errTopicAuthz, -1
					}
				}
			}
		}
		for _, g := range denied {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
	}
}

func authorizeFindCoordinator(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.FindCoordinatorRequest)
	ok := func(key string) (int16, bool) {
		if req.CoordinatorType == 1 {
			return kerr.TransactionalIDAuthorizationFailed.Code, p.IsAdmin()
		}
		return kerr.GroupAuthorizationFailed.Code, p.CanUseGroup(key)
	}
	if req.Version < 4 {
		if code, allowed := ok(req.CoordinatorKey); !allowed {
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID = code, -1
			return resp, nil
		}
		return nil, nil
	}
	denied := split(&req.CoordinatorKeys, func(k string) bool { _, allowed := ok(k); return allowed })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID = k, -1
			c.ErrorCode, _ = ok(k)
			resp.Coordinators = append(resp.Coordinators, c)
		}
	}
}

func authorizeDescribeGroups(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.DescribeGroupsRequest)
	denied := split(&req.Groups, p.CanUseGroup)
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.DescribeGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
	}
}

func authorizeConsumerGroupDescribe(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.ConsumerGroupDescribeRequest)
	denied := split(&req.Groups, p.CanUseGroup)
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range denied {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
	}
}

// authorizeListGroups lists only the groups p may use.
func authorizeListGroups(_ *Broker, p saslauth.Principal, _ kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.ListGroupsResponse)
		resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool { return !p.CanUseGroup(g.Group) })
	}
}

func authorizeDeleteGroups(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.DeleteGroupsRequest)
	denied := split(&req.Groups, func(string) bool { return p.IsAdmin() })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.DeleteGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
	}
}

// authorizeInitProducerID gives idempotent producer ids to principals that
// may produce somewhere (Kafka's IDEMPOTENT_WRITE) and transactional ones
// to admins only, since tokens name no transactional ids.
func authorizeInitProducerID(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.InitProducerIDRequest)
	switch {
	case req.TransactionalID != nil && !p.IsAdmin():
		return refuseWith(req, kerr.TransactionalIDAuthorizationFailed), nil
	case !p.MayProduce():
		return refuseWith(req, kerr.ClusterAuthorizationFailed), nil
	}
	return nil, nil
}

func authorizeCreateTopics(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.CreateTopicsRequest)
	denied := split(&req.Topics, func(kmsg.CreateTopicsRequestTopic) bool { return p.IsAdmin() })
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.CreateTopicsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

func authorizeDeleteTopics(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.DeleteTopicsRequest)
	if p.IsAdmin() {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	for _, name := range req.TopicNames {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.ErrorCode = kmsg.StringPtr(name), errTopicAuthz
		resp.Topics = append(resp.Topics, rt)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, errTopicAuthz
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func authorizeCreatePartitions(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.CreatePartitionsRequest)
	if p.IsAdmin() {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func authorizeDeleteRecords(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.DeleteRecordsRequest)
	if p.IsAdmin() {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, tp := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.LowWatermark = tp.Partition, errTopicAuthz, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// resourceRefusal is the code refusing a config resource: the topic's or
// the cluster's.
func resourceRefusal(t kmsg.ConfigResourceType) int16 {
	if t == kmsg.ConfigResourceTypeTopic {
		return errTopicAuthz
	}
	return kerr.ClusterAuthorizationFailed.Code
}

func authorizeAlterConfigs(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.AlterConfigsRequest)
	if p.IsAdmin() {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, resourceRefusal(res.ResourceType)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func authorizeIncrementalAlterConfigs(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	if p.IsAdmin() {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, resourceRefusal(res.ResourceType)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// authorizeDescribeConfigs shows a topic's configuration to those who may
// describe the topic, and the brokers' to admins.
func authorizeDescribeConfigs(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.(*kmsg.DescribeConfigsRequest)
	denied := split(&req.Resources, func(res kmsg.DescribeConfigsRequestResource) bool {
		return p.IsAdmin() || res.ResourceType == kmsg.ConfigResourceTypeTopic && p.CanDescribe(res.ResourceName)
	})
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(m kmsg.Response) {
		resp := m.(*kmsg.DescribeConfigsResponse)
		for _, res := range denied {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, resourceRefusal(res.ResourceType)
			resp.Resources = append(resp.Resources, rr)
		}
	}
}

// authorizeAlterUserScramCredentials refuses every user of the request to a
// principal that is not an admin.
func authorizeAlterUserScramCredentials(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	if p.IsAdmin() {
		return nil, nil
	}
	req := r.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	seen := map[string]bool{}
	add := func(user string) {
		if !seen[user] {
			seen[user] = true
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = user, kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, res)
		}
	}
	for _, d := range req.Deletions {
		add(d.Name)
	}
	for _, u := range req.Upsertions {
		add(u.Name)
	}
	return resp, nil
}

// authorizeCreateAcls refuses every creation to a principal that is not an
// admin (Kafka's ALTER on the cluster).
func authorizeCreateAcls(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	if p.IsAdmin() {
		return nil, nil
	}
	req := r.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// authorizeDeleteAcls refuses every filter to a principal that is not an
// admin.
func authorizeDeleteAcls(_ *Broker, p saslauth.Principal, r kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	if p.IsAdmin() {
		return nil, nil
	}
	req := r.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
