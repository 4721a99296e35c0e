package broker

import (
	"context"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata is served from v0, which Kafka 4.x still serves: kafka-python probes
// a broker's version with ApiVersions v0 then Metadata v0.
func init() { register(kmsg.Metadata, 0, 12, (*Broker).handleMetadata) }

// handleMetadata lists the live brokers and the requested topics (all when
// the list is null, or at v0, where it cannot be null, empty) with their partitions' leaders, replicas and ISRs. With
// auto-creation on, a named topic that does not exist is created.
func (b *Broker) handleMetadata(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.member.Image()
	resp.Brokers = metadataBrokers(img, r.Conn.Listener)
	if id := img.ClusterID(); id != "" { // set by the first controller, before any broker registers
		resp.ClusterID = &id
	}
	resp.ControllerID = b.controllerID()

	var topics []*metadata.Topic
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		topics = img.Topics()
	}
	for _, rt := range req.Topics {
		var t *metadata.Topic
		var ok bool
		if rt.Topic != nil {
			t, ok = img.Topic(*rt.Topic)
			if !ok && b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation) {
				t, ok = b.autoCreate(ctx, *rt.Topic)
			}
		} else {
			t, ok = img.TopicByID(rt.TopicID)
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		topics = append(topics, t)
	}
	for _, t := range topics {
		resp.Topics = append(resp.Topics, b.metadataTopic(img, t, r.Conn.Listener, req.Version))
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// autoCreate creates a topic with the broker defaults; a concurrent creation
// by someone else counts as success. Names reserved for internal topics are
// not created: the broker creates those itself.
func (b *Broker) autoCreate(ctx context.Context, name string) (*metadata.Topic, bool) {
	if err := checkClientTopicName(name); err != nil {
		b.log.Info("auto-create topic", "topic", name, "error", err)
		return nil, false
	}
	t, err := b.member.CreateTopic(ctx, controller.CreateTopicRequest{Name: name, Partitions: b.cfg.DefaultPartitions, ReplicationFactor: 1})
	if err != nil {
		b.log.Info("auto-create topic", "topic", name, "error", err)
		return b.member.Image().Topic(name)
	}
	return t, true
}

func (b *Broker) controllerID() int32 {
	if leader := b.member.Leader(); leader != 0 {
		return int32(leader)
	}
	return -1
}

// metadataBrokers lists the unfenced brokers with their addresses on the
// listener named listener.
func metadataBrokers(img *metadata.Image, listener string) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = br.ID
		host, port, ok := advertisedOn(br, listener)
		if !ok {
			continue
		}
		mb.Host, mb.Port = host, port
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}

// metadataTopic describes t to a client of the listener named listener: a
// partition whose leader lacks that listener has no leader for it, with
// LISTENER_NOT_FOUND from v6 on (LEADER_NOT_AVAILABLE before), as Kafka
// answers.
func (b *Broker) metadataTopic(img *metadata.Image, t *metadata.Topic, listener string, version int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	// Clients leave internal topics out of regex subscriptions.
	mt.IsInternal = metadata.InternalTopic(name)
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		for _, id := range p.Replicas {
			if br, ok := img.Broker(id); !ok || br.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		} else if br, ok := img.Broker(p.Leader); ok {
			if _, on := br.ListenerAddr(listener); !on {
				mp.Leader, mp.ErrorCode = -1, kerr.LeaderNotAvailable.Code
				if version >= 6 {
					mp.ErrorCode = kerr.ListenerNotFound.Code
				}
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
