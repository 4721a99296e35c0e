package broker

import (
	"context"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteTopics, 1, 6, (*Broker).handleDeleteTopics) }

// handleDeleteTopics deletes topics through the controller, each on its own.
// Up to v5 topics are named; from v6 each is named or given by topic id, not
// both. A topic id is resolved to a name with this broker's metadata image.
// Every broker removes the logs of a deleted topic when the change reaches it.
func (b *Broker) handleDeleteTopics(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i] = kmsg.NewDeleteTopicsRequestTopic()
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	names := map[string]int{}
	ids := map[uuid.UUID]int{}
	for _, t := range topics {
		if t.Topic != nil {
			names[*t.Topic]++
		} else {
			ids[t.TopicID]++
		}
	}
	img := b.member.Image()
	answeredNames := map[string]bool{}
	answeredIDs := map[uuid.UUID]bool{}
	for _, t := range topics {
		// A duplicated topic is answered once, with INVALID_REQUEST.
		if t.Topic != nil && names[*t.Topic] > 1 {
			if answeredNames[*t.Topic] {
				continue
			}
			answeredNames[*t.Topic] = true
		} else if t.Topic == nil && ids[t.TopicID] > 1 {
			if answeredIDs[t.TopicID] {
				continue
			}
			answeredIDs[t.TopicID] = true
		}
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		var name string
		var err error
		switch {
		case t.Topic != nil && t.TopicID != uuid.Nil:
			err = refuse(kerr.InvalidRequest, "give a topic name or a topic id, not both")
		case t.Topic == nil && t.TopicID == uuid.Nil:
			err = refuse(kerr.InvalidRequest, "neither a topic name nor a topic id is given")
		case t.Topic != nil && names[*t.Topic] > 1:
			err = refuse(kerr.InvalidRequest, "topic %q is listed %d times in the request", *t.Topic, names[*t.Topic])
		case t.Topic == nil && ids[t.TopicID] > 1:
			err = refuse(kerr.InvalidRequest, "topic id %s is listed %d times in the request", uuid.UUID(t.TopicID), ids[t.TopicID])
		case t.Topic == nil:
			if mt, ok := img.TopicByID(t.TopicID); ok {
				name = mt.Name
				rt.Topic = &name
			} else {
				err = refuse(kerr.UnknownTopicID, "no topic has id %s", uuid.UUID(t.TopicID))
			}
		default:
			name = *t.Topic
			if mt, ok := img.Topic(name); ok {
				rt.TopicID = mt.ID
			}
		}
		if err == nil {
			err = b.member.DeleteTopic(ctx, name)
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
			if rt.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("delete topic", "topic", name, "error", err)
			}
		} else {
			b.log.Info("deleted topic", "topic", name, "id", uuid.UUID(rt.TopicID))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
