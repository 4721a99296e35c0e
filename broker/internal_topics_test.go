package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInternalTopicNamesReserved: the names Kafka reserves for internal
// topics are refused over CreateTopics (INVALID_REQUEST, as Kafka refuses
// __cluster_metadata; names colliding with them in metrics too) and are not
// auto-created by a Metadata request, while the broker's own path creates
// them.
func TestInternalTopicNamesReserved(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{AutoCreateTopics: true})
	cl := c.Client()
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "__share_group_state", "__cluster_metadata"} {
		for _, validateOnly := range []bool{true, false} {
			rt := createOneTopic(t, cl, validateOnly, topicSpec(name, 1, 1))
			wantKafkaErr(t, name, rt.ErrorCode, rt.ErrorMessage, kerr.InvalidRequest, "reserved")
		}
	}
	rt := createOneTopic(t, cl, false, topicSpec("__consumer.offsets", 1, 1))
	wantKafkaErr(t, "__consumer.offsets", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidTopicException, `internal topic "__consumer_offsets"`)

	// Auto-creation (runnel dev's auto.create.topics) makes ordinary
	// topics only.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "auto-made"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range resp.Topics {
		want := kerr.UnknownTopicOrPartition.Code
		if *mt.Topic == "auto-made" {
			want = 0
		}
		if mt.ErrorCode != want {
			t.Errorf("metadata for %s: %v", *mt.Topic, kerr.ErrorForCode(mt.ErrorCode))
		}
	}
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "__consumer.offsets"} {
		if topicInImage(c, name) {
			t.Errorf("%s exists after a client asked for it", name)
		}
	}

	// The broker's own path creates it; then it exists for clients too.
	b := c.Nodes[0].Broker
	created, err := broker.CreateInternalTopic(b, ctx, "__consumer_offsets", 3, 1, map[string]string{"retention.ms": "-1"})
	if err != nil || len(created.Partitions) != 3 || created.Config["retention.ms"] != "-1" {
		t.Fatalf("internal creation: %+v, %v", created, err)
	}
	if !topicInImage(c, "__consumer_offsets") {
		t.Fatal("internal topic missing from the image")
	}
	rt = createOneTopic(t, cl, false, topicSpec("__consumer_offsets", 1, 1))
	wantKafkaErr(t, "existing internal topic", rt.ErrorCode, rt.ErrorMessage, kerr.TopicAlreadyExists, "already exists")
	if _, err := broker.CreateInternalTopic(b, ctx, "__consumer_offsets", 3, 1, nil); !errors.Is(err, metadata.ErrTopicExists) {
		t.Errorf("second internal creation: %v, want ErrTopicExists", err)
	}
	if _, err := broker.CreateInternalTopic(b, ctx, "orders", 1, 1, nil); !errors.Is(err, metadata.ErrInvalidTopicName) || topicInImage(c, "orders") {
		t.Errorf("internal creation of an ordinary name: %v", err)
	}
}
