package broker_test

import (
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetadataV0 probes the broker as kafka-python does (ApiVersions v0, then
// Metadata v0) and checks the v0 answers: an empty topic list (v0 cannot send
// null) lists every topic, a named topic is described, an unknown one gets
// UNKNOWN_TOPIC_OR_PARTITION.
func TestMetadataV0(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("m0-a", 2, nil)
	c.CreateTopic("m0-b", 1, nil)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	listed := false
	for _, k := range rawRequest(t, c.Addr(), av).(*kmsg.ApiVersionsResponse).ApiKeys {
		if k.ApiKey == int16(kmsg.Metadata) {
			listed = k.MinVersion == 0
		}
	}
	if !listed {
		t.Fatal("ApiVersions v0 does not list Metadata from v0")
	}

	metadata := func(topics ...string) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(0)
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, name := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		return rawRequest(t, c.Addr(), req).(*kmsg.MetadataResponse)
	}
	all := metadata()
	if len(all.Brokers) != 1 || all.Brokers[0].NodeID != 1 {
		t.Fatalf("brokers %+v, want broker 1", all.Brokers)
	}
	parts := map[string]int{}
	for _, mt := range all.Topics {
		if mt.ErrorCode != 0 {
			t.Fatalf("topic %v: error %d", mt.Topic, mt.ErrorCode)
		}
		for _, p := range mt.Partitions {
			if p.Leader != 1 || p.ErrorCode != 0 {
				t.Fatalf("topic %v partition %d: leader %d error %d", mt.Topic, p.Partition, p.Leader, p.ErrorCode)
			}
		}
		parts[*mt.Topic] = len(mt.Partitions)
	}
	if parts["m0-a"] != 2 || parts["m0-b"] != 1 {
		t.Fatalf("empty topic list at v0 answered %v, want every topic (m0-a: 2, m0-b: 1 partitions)", parts)
	}
	named := map[string]kmsg.MetadataResponseTopic{}
	for _, mt := range metadata("m0-b", "m0-none").Topics {
		named[*mt.Topic] = mt
	}
	if len(named) != 2 || named["m0-b"].ErrorCode != 0 || len(named["m0-b"].Partitions) != 1 ||
		named["m0-none"].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("named topics at v0: %+v", named)
	}
}
