package broker_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminAPIs runs the admin APIs (topics, partitions, configs, cluster)
// against one single-node cluster.
func TestAdminAPIs(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	cl := c.Client()
	adm := kadm.NewClient(cl)

	t.Run("CreateTopics", func(t *testing.T) { testCreateTopics(t, c, cl, adm) })
	t.Run("DeleteTopics", func(t *testing.T) { testDeleteTopics(t, c, cl, adm) })
	t.Run("CreatePartitions", func(t *testing.T) { testCreatePartitions(t, c, cl, adm) })
	t.Run("DescribeConfigs", func(t *testing.T) { testDescribeConfigs(t, c, cl, adm) })
	t.Run("IncrementalAlterConfigs", func(t *testing.T) { testIncrementalAlterConfigs(t, c, cl, adm) })
	t.Run("DescribeCluster", func(t *testing.T) { testDescribeCluster(t, c, cl) })
	t.Run("HostileInput", func(t *testing.T) { testHostileInput(t, c) })
}

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantKafkaErr checks a Kafka error code and, when msg is not empty, that the
// error message contains it.
func wantKafkaErr(t *testing.T, what string, code int16, message *string, want *kerr.Error, msg string) {
	t.Helper()
	if code != want.Code {
		t.Errorf("%s: error %v (%s), want %v", what, kerr.ErrorForCode(code), msgOf(message), want)
		return
	}
	if msg != "" && !strings.Contains(msgOf(message), msg) {
		t.Errorf("%s: message %q, want it to contain %q", what, msgOf(message), msg)
	}
}

func msgOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// topicInImage looks in the metadata image: kgo caches Metadata answers for
// a moment, so a client could still see a topic just deleted.
func topicInImage(c *brokertest.Cluster, name string) bool {
	_, ok := c.Nodes[0].Member.Image().Topic(name)
	return ok
}

// createOneTopic sends one CreateTopics request for a single topic.
func createOneTopic(t *testing.T, cl *kgo.Client, validateOnly bool, topic kmsg.CreateTopicsRequestTopic) kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	req.ValidateOnly = validateOnly
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("got %d topics in the response, want 1", len(resp.Topics))
	}
	return resp.Topics[0]
}

func topicSpec(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func testCreateTopics(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	ctx := adminCtx(t)
	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("60000")}, "orders")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v %s", err, resp.Err, resp.ErrMessage)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 || resp.ID == (kadm.TopicID{}) {
		t.Errorf("create answered %+v", resp)
	}
	md, err := adm.Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if td := md.Topics["orders"]; td.Err != nil || len(td.Partitions) != 3 || td.ID != resp.ID {
		t.Errorf("metadata of the new topic: %+v", td)
	}

	t.Run("defaults and configs in the answer", func(t *testing.T) {
		rt := createOneTopic(t, cl, false, topicSpec("defaults", -1, -1, "cleanup.policy", "delete"))
		if rt.ErrorCode != 0 {
			t.Fatalf("error %v: %s", kerr.ErrorForCode(rt.ErrorCode), msgOf(rt.ErrorMessage))
		}
		if rt.NumPartitions != 1 || rt.ReplicationFactor != 1 || rt.TopicID == [16]byte{} {
			t.Errorf("partitions %d, rf %d, id %x; want 1, 1 and an id", rt.NumPartitions, rt.ReplicationFactor, rt.TopicID)
		}
		sources := map[string]int8{}
		values := map[string]string{}
		for _, cfg := range rt.Configs {
			sources[cfg.Name], values[cfg.Name] = cfg.Source, msgOf(cfg.Value)
		}
		if sources["cleanup.policy"] != int8(kmsg.ConfigSourceDynamicTopicConfig) || values["cleanup.policy"] != "delete" {
			t.Errorf("cleanup.policy: source %d value %q, want the topic's own", sources["cleanup.policy"], values["cleanup.policy"])
		}
		if sources["segment.bytes"] != int8(kmsg.ConfigSourceDefaultConfig) || values["segment.bytes"] == "" {
			t.Errorf("segment.bytes: source %d value %q, want a default", sources["segment.bytes"], values["segment.bytes"])
		}
		if !topicInImage(c, "defaults") {
			t.Error("topic not listed after creation")
		}
	})

	t.Run("existing topic", func(t *testing.T) {
		rt := createOneTopic(t, cl, false, topicSpec("orders", 1, 1))
		wantKafkaErr(t, "create existing", rt.ErrorCode, rt.ErrorMessage, kerr.TopicAlreadyExists, "already exists")
		rt = createOneTopic(t, cl, true, topicSpec("orders", 1, 1))
		wantKafkaErr(t, "validate existing", rt.ErrorCode, rt.ErrorMessage, kerr.TopicAlreadyExists, "already exists")
	})

	t.Run("invalid names", func(t *testing.T) {
		for _, name := range []string{"", ".", "..", "has space", "slash/topic", "ünï", strings.Repeat("x", 250)} {
			rt := createOneTopic(t, cl, false, topicSpec(name, 1, 1))
			wantKafkaErr(t, "name "+strconv.Quote(name), rt.ErrorCode, rt.ErrorMessage, kerr.InvalidTopicException, "invalid topic name")
		}
		createOneTopic(t, cl, false, topicSpec("metrics.clash", 1, 1))
		rt := createOneTopic(t, cl, false, topicSpec("metrics_clash", 1, 1))
		wantKafkaErr(t, "colliding name", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidTopicException, "collides")

		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		req.Topics = append(req.Topics, topicSpec("same.batch", 1, 1), topicSpec("same_batch", 1, 1))
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create same.batch: %+v", resp.Topics)
		}
		wantKafkaErr(t, "collision within a request", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.InvalidTopicException, `"same.batch"`)
	})

	t.Run("partition counts", func(t *testing.T) {
		for _, n := range []int32{0, -2, -1 << 31, 10001, 1_000_000_000} {
			rt := createOneTopic(t, cl, false, topicSpec("counts", n, 1))
			wantKafkaErr(t, "partitions "+strconv.Itoa(int(n)), rt.ErrorCode, rt.ErrorMessage, kerr.InvalidPartitions, "partitions")
			if n > 0 && !strings.Contains(msgOf(rt.ErrorMessage), "10000") {
				t.Errorf("partitions %d: message %q does not name the limit", n, msgOf(rt.ErrorMessage))
			}
		}
		if topicInImage(c, "counts") {
			t.Error("a refused topic exists")
		}
	})

	t.Run("replication factors", func(t *testing.T) {
		rt := createOneTopic(t, cl, false, topicSpec("rf", 1, 2))
		wantKafkaErr(t, "rf 2 on one broker", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidReplicationFactor, "larger than the 1 available broker")
		if m := msgOf(rt.ErrorMessage); strings.Contains(m, "1 available brokers") {
			t.Errorf("rf 2 on one broker: %q counts one broker in the plural", m)
		}
		for _, rf := range []int16{0, -2, -32768} {
			rt := createOneTopic(t, cl, false, topicSpec("rf", 1, rf))
			wantKafkaErr(t, "rf "+strconv.Itoa(int(rf)), rt.ErrorCode, rt.ErrorMessage, kerr.InvalidReplicationFactor, "replication factor")
		}
	})

	t.Run("manual assignment", func(t *testing.T) {
		topic := topicSpec("assigned", -1, -1)
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, []int32{1}
		topic.ReplicaAssignment = append(topic.ReplicaAssignment, a)
		rt := createOneTopic(t, cl, false, topic)
		wantKafkaErr(t, "assignment", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidRequest, "manual replica assignment")
	})

	t.Run("configs", func(t *testing.T) {
		for _, kv := range [][2]string{
			{"no.such.config", "1"},
			{"retention.ms", "soon"},
			{"segment.bytes", "1"},
			{"cleanup.policy", "never"},
			{"cleanup.policy", "compact,never"},
			{"min.cleanable.dirty.ratio", "1.5"},
			{"message.timestamp.type", "ServerTime"},
			{"message.timestamp.after.max.ms", "-1"},
			{"remote.storage.enable", "true"}, // this broker has no object store
		} {
			rt := createOneTopic(t, cl, false, topicSpec("configs", 1, 1, kv[0], kv[1]))
			wantKafkaErr(t, kv[0]+"="+kv[1], rt.ErrorCode, rt.ErrorMessage, kerr.InvalidConfig, kv[0])
		}
		topic := topicSpec("configs", 1, 1)
		nullValue := kmsg.NewCreateTopicsRequestTopicConfig()
		nullValue.Name = "retention.ms"
		topic.Configs = append(topic.Configs, nullValue)
		rt := createOneTopic(t, cl, false, topic)
		wantKafkaErr(t, "null value", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidConfig, "null")
		if topicInImage(c, "configs") {
			t.Error("a refused topic exists")
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		req.Topics = append(req.Topics, topicSpec("twice", 1, 1), topicSpec("twice", 1, 1), topicSpec("once", 1, 1))
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 2 {
			t.Fatalf("%d answers, want 2", len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			switch rt.Topic {
			case "twice":
				wantKafkaErr(t, "duplicate", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidRequest, "listed 2 times")
			case "once":
				if rt.ErrorCode != 0 {
					t.Errorf("the other topic: %v %s", kerr.ErrorForCode(rt.ErrorCode), msgOf(rt.ErrorMessage))
				}
			}
		}
	})

	t.Run("validate only", func(t *testing.T) {
		resp, err := adm.ValidateCreateTopics(adminCtx(t), 4, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000")}, "dry-run")
		if err != nil {
			t.Fatal(err)
		}
		r := resp["dry-run"]
		if r.Err != nil || r.NumPartitions != 4 || r.Configs["retention.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("validate only: %+v", r)
		}
		if topicInImage(c, "dry-run") {
			t.Error("validate only created the topic")
		}
		rt := createOneTopic(t, cl, true, topicSpec("dry-run", 1, 3))
		wantKafkaErr(t, "validate rf 3", rt.ErrorCode, rt.ErrorMessage, kerr.InvalidReplicationFactor, "larger than the 1 available broker")
	})
}

func testDeleteTopics(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	ctx := adminCtx(t)
	c.CreateTopic("doomed", 2, nil)
	resp, err := adm.DeleteTopics(ctx, "doomed", "never-was")
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["doomed"]; r.Err != nil || r.ID == (kadm.TopicID{}) {
		t.Errorf("delete doomed: %+v", r)
	}
	if r := resp["never-was"]; r.Err != kerr.UnknownTopicOrPartition {
		t.Errorf("delete unknown: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	if topicInImage(c, "doomed") {
		t.Error("deleted topic still listed")
	}

	t.Run("by id", func(t *testing.T) {
		c.CreateTopic("by-id", 1, nil)
		md, err := adm.Metadata(adminCtx(t), "by-id")
		if err != nil {
			t.Fatal(err)
		}
		id := md.Topics["by-id"].ID
		del := func(name *string, id [16]byte) kmsg.DeleteTopicsResponseTopic {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 10000
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic, rt.TopicID = name, id
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(adminCtx(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != 6 || len(resp.Topics) != 1 {
				t.Fatalf("version %d with %d topics, want v6 with 1", resp.Version, len(resp.Topics))
			}
			return resp.Topics[0]
		}
		r := del(kmsg.StringPtr("by-id"), id)
		wantKafkaErr(t, "name and id", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "not both")
		r = del(nil, [16]byte{})
		wantKafkaErr(t, "neither", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "neither")
		r = del(nil, [16]byte{1, 2, 3})
		wantKafkaErr(t, "unknown id", r.ErrorCode, r.ErrorMessage, kerr.UnknownTopicID, "no topic has id")
		r = del(nil, id)
		if r.ErrorCode != 0 || msgOf(r.Topic) != "by-id" || r.TopicID != id {
			t.Errorf("delete by id: %v %q %x", kerr.ErrorForCode(r.ErrorCode), msgOf(r.Topic), r.TopicID)
		}
		if topicInImage(c, "by-id") {
			t.Error("topic deleted by id still listed")
		}
	})
}

func testCreatePartitions(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	ctx := adminCtx(t)
	c.CreateTopic("grow", 1, nil)
	resp, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || resp["grow"].Err != nil {
		t.Fatalf("add 2: %v %+v", err, resp["grow"])
	}
	partitions := func() int {
		md, err := adm.Metadata(adminCtx(t), "grow")
		if err != nil {
			t.Fatal(err)
		}
		return len(md.Topics["grow"].Partitions)
	}
	if n := partitions(); n != 3 {
		t.Fatalf("%d partitions after adding 2 to 1, want 3", n)
	}
	for _, set := range []int{3, 2} {
		resp, err := adm.UpdatePartitions(ctx, set, "grow")
		if err != nil {
			t.Fatal(err)
		}
		r := resp["grow"]
		if r.Err != kerr.InvalidPartitions || !strings.Contains(r.ErrMessage, "3 partitions") {
			t.Errorf("set %d: %v %q, want INVALID_PARTITIONS naming the current count", set, r.Err, r.ErrMessage)
		}
	}
	if resp, err := adm.ValidateCreatePartitions(ctx, 1, "grow"); err != nil || resp["grow"].Err != nil {
		t.Errorf("validate add 1: %v %+v", err, resp["grow"])
	}
	if n := partitions(); n != 3 {
		t.Errorf("%d partitions after validate only, want 3", n)
	}

	raw := func(topic string, count int32, assign bool) kmsg.CreatePartitionsResponseTopic {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		if assign {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = []int32{1}
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0]
	}
	r := raw("grow", 1_000_000_000, false)
	wantKafkaErr(t, "a billion", r.ErrorCode, r.ErrorMessage, kerr.InvalidPartitions, "at most 10000")
	r = raw("grow", -7, false)
	wantKafkaErr(t, "negative", r.ErrorCode, r.ErrorMessage, kerr.InvalidPartitions, "can only be added")
	r = raw("grow", 4, true)
	wantKafkaErr(t, "assignment", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "manual replica assignment")
	r = raw("no-such-topic", 4, false)
	wantKafkaErr(t, "unknown topic", r.ErrorCode, r.ErrorMessage, kerr.UnknownTopicOrPartition, "does not exist")
	if n := partitions(); n != 3 {
		t.Errorf("%d partitions after refused requests, want 3", n)
	}
}

// describeTopicConfigs returns the configs of a topic by name, failing on errors.
func describeTopicConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(adminCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v %s", topic, err, rc.Err, rc.ErrMessage)
	}
	out := map[string]kadm.Config{}
	for _, cfg := range rc.Configs {
		out[cfg.Key] = cfg
	}
	return out
}

func testDescribeConfigs(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	cfgs := describeTopicConfigs(t, adm, "orders") // retention.ms=60000 from CreateTopics
	if r := cfgs["retention.ms"]; r.MaybeValue() != "60000" || r.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms: %q from %v, want 60000 from the topic", r.MaybeValue(), r.Source)
	}
	if r := cfgs["segment.bytes"]; r.MaybeValue() == "" || r.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("segment.bytes: %q from %v, want the default", r.MaybeValue(), r.Source)
	}
	for _, key := range []string{"cleanup.policy", "max.message.bytes", "min.insync.replicas", "unclean.leader.election.enable"} {
		if _, ok := cfgs[key]; !ok {
			t.Errorf("%s not described", key)
		}
	}

	t.Run("filter, synonyms, documentation", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms, req.IncludeDocumentation = true, true
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
		res.ConfigNames = []string{"retention.ms", "no.such.config"}
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		rr := resp.Resources[0]
		if rr.ErrorCode != 0 || len(rr.Configs) != 1 {
			t.Fatalf("error %v, %d configs; want 1 config", kerr.ErrorForCode(rr.ErrorCode), len(rr.Configs))
		}
		e := rr.Configs[0]
		if e.Name != "retention.ms" || e.ConfigType != kmsg.ConfigTypeLong || e.Documentation == nil || e.ReadOnly {
			t.Errorf("entry %+v", e)
		}
		if len(e.ConfigSynonyms) != 2 || msgOf(e.ConfigSynonyms[0].Value) != "60000" || e.ConfigSynonyms[1].Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("synonyms %+v, want the topic's value then the default", e.ConfigSynonyms)
		}
	})

	t.Run("errors", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{
			{kmsg.ConfigResourceTypeTopic, "no-such-topic"},
			{kmsg.ConfigResourceTypeTopic, "bad name"},
			{kmsg.ConfigResourceTypeBrokerLogger, "1"},
			{kmsg.ConfigResourceType(99), "x"},
		} {
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = r.typ, r.name
			req.Resources = append(req.Resources, res)
		}
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		// kgo sends broker resources to their broker, so the order changes.
		want := map[string]*kerr.Error{"no-such-topic": kerr.UnknownTopicOrPartition, "bad name": kerr.InvalidTopicException, "1": kerr.InvalidRequest, "x": kerr.InvalidRequest}
		if len(resp.Resources) != len(want) {
			t.Fatalf("%d resources answered, want %d", len(resp.Resources), len(want))
		}
		for _, rr := range resp.Resources {
			wantKafkaErr(t, rr.ResourceName, rr.ErrorCode, rr.ErrorMessage, want[rr.ResourceName], "")
			if rr.ErrorMessage == nil {
				t.Errorf("%s: no error message", rr.ResourceName)
			}
		}
	})

	t.Run("broker", func(t *testing.T) {
		rcs, err := adm.DescribeBrokerConfigs(adminCtx(t), 1)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("1", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe broker 1: %v %v %s", err, rc.Err, rc.ErrMessage)
		}
		got := map[string]string{}
		for _, cfg := range rc.Configs {
			got[cfg.Key] = cfg.MaybeValue()
		}
		for key, want := range map[string]string{"broker.id": "1", "auto.create.topics.enable": "false", "num.partitions": "1", "default.replication.factor": "1"} {
			if got[key] != want {
				t.Errorf("%s = %q, want %q", key, got[key], want)
			}
		}
		if _, ok := got["log.retention.check.interval.ms"]; !ok {
			t.Error("log.retention.check.interval.ms not described")
		}
		req := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Resources[0].Configs {
			if !e.ReadOnly {
				t.Errorf("broker config %s is not read-only", e.Name)
			}
		}
	})
}

func testIncrementalAlterConfigs(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	ctx := adminCtx(t)
	c.CreateTopic("tuned", 1, nil)
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("5000")},
		{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kmsg.StringPtr("1")},
	}, "tuned")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("set: %v %+v", err, resp)
	}
	cfgs := describeTopicConfigs(t, adm, "tuned")
	if r := cfgs["retention.ms"]; r.MaybeValue() != "5000" || r.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms after set: %q from %v", r.MaybeValue(), r.Source)
	}

	resp, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "tuned")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	cfgs = describeTopicConfigs(t, adm, "tuned")
	if r := cfgs["retention.ms"]; r.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms after delete: %q from %v, want the default", r.MaybeValue(), r.Source)
	}
	if r := cfgs["min.insync.replicas"]; r.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("min.insync.replicas lost: %q from %v", r.MaybeValue(), r.Source)
	}

	if resp, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("7")}}, "tuned"); err != nil || resp[0].Err != nil {
		t.Fatalf("validate: %v %+v", err, resp)
	}
	if r := describeTopicConfigs(t, adm, "tuned")["retention.ms"]; r.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("validate only changed retention.ms to %q", r.MaybeValue())
	}

	for _, tc := range []struct {
		what  string
		topic string
		cfg   kadm.AlterConfig
		want  *kerr.Error
		msg   string
	}{
		{"append", "tuned", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}, kerr.InvalidConfig, "no list-valued configs"},
		{"subtract", "tuned", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")}, kerr.InvalidConfig, "no list-valued configs"},
		{"unknown key", "tuned", kadm.AlterConfig{Name: "no.such.config", Value: kmsg.StringPtr("1")}, kerr.InvalidConfig, "unknown topic config"},
		{"bad value", "tuned", kadm.AlterConfig{Name: "retention.ms", Value: kmsg.StringPtr("-5")}, kerr.InvalidConfig, "retention.ms"},
		{"null value", "tuned", kadm.AlterConfig{Name: "retention.ms"}, kerr.InvalidConfig, "null"},
		{"delete unknown key", "tuned", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "no.such.config"}, kerr.InvalidConfig, "unknown topic config"},
		{"tiering without a store", "tuned", kadm.AlterConfig{Name: "remote.storage.enable", Value: kmsg.StringPtr("true")}, kerr.InvalidConfig, "remote.storage.enable=true needs tiered storage"},
		{"unknown topic", "no-such-topic", kadm.AlterConfig{Name: "retention.ms", Value: kmsg.StringPtr("1")}, kerr.UnknownTopicOrPartition, "does not exist"},
	} {
		resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.cfg}, tc.topic)
		if err != nil {
			t.Fatal(err)
		}
		if resp[0].Err != tc.want || !strings.Contains(resp[0].ErrMessage, tc.msg) {
			t.Errorf("%s: %v %q, want %v containing %q", tc.what, resp[0].Err, resp[0].ErrMessage, tc.want, tc.msg)
		}
	}

	bresp, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("3")}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bresp[0].Err != kerr.InvalidRequest || !strings.Contains(bresp[0].ErrMessage, "read-only") {
		t.Errorf("alter broker config: %v %q, want INVALID_REQUEST", bresp[0].Err, bresp[0].ErrMessage)
	}

	t.Run("duplicate key", func(t *testing.T) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "tuned"
		for _, v := range []string{"1000", "2000"} {
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Name, rc.Value = "retention.ms", kmsg.StringPtr(v)
			res.Configs = append(res.Configs, rc)
		}
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(adminCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		rr := resp.Resources[0]
		wantKafkaErr(t, "duplicate key", rr.ErrorCode, rr.ErrorMessage, kerr.InvalidRequest, "more than once")
	})
}

func testDescribeCluster(t *testing.T, c *brokertest.Cluster, cl *kgo.Client) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp, err := req.RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || metadata.ValidateClusterID(resp.ClusterID) != nil || resp.ControllerID != 1 || resp.EndpointType != 1 {
		t.Errorf("error %v, cluster %q, controller %d, endpoint type %d", kerr.ErrorForCode(resp.ErrorCode), resp.ClusterID, resp.ControllerID, resp.EndpointType)
	}
	if resp.ClusterAuthorizedOperations <= 0 || resp.ClusterAuthorizedOperations&(1<<kmsg.ACLOperationIdempotentWrite) == 0 {
		t.Errorf("authorized operations %b", resp.ClusterAuthorizedOperations)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("%d brokers, want 1", len(resp.Brokers))
	}
	b := resp.Brokers[0]
	if addr := b.Host + ":" + strconv.Itoa(int(b.Port)); b.NodeID != 1 || addr != c.Addrs()[0] {
		t.Errorf("broker %d at %s, want 1 at %s", b.NodeID, addr, c.Addrs()[0])
	}

	req = kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp, err = req.RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	wantKafkaErr(t, "controllers", resp.ErrorCode, resp.ErrorMessage, kerr.UnsupportedEndpointType, "endpoint type 2")
}

// TestCreateTopicsReplicationFactor checks on two brokers that a replication
// factor up to the live brokers is accepted and a larger one refused, and
// that DescribeCluster lists both brokers.
func TestCreateTopicsReplicationFactor(t *testing.T) {
	c := brokertest.Start(t, 2, brokertest.Options{})
	cl := c.Client()
	if rt := createOneTopic(t, cl, false, topicSpec("replicated", 1, 3)); rt.ErrorCode != kerr.InvalidReplicationFactor.Code ||
		msgOf(rt.ErrorMessage) != "replication factor 3 is larger than the 2 available brokers" {
		t.Errorf("rf 3: %v %q, want INVALID_REPLICATION_FACTOR", kerr.ErrorForCode(rt.ErrorCode), msgOf(rt.ErrorMessage))
	}
	if rt := createOneTopic(t, cl, false, topicSpec("replicated", 1, 2)); rt.ErrorCode != 0 || rt.ReplicationFactor != 2 {
		t.Errorf("rf 2: %v %q, replication factor %d", kerr.ErrorForCode(rt.ErrorCode), msgOf(rt.ErrorMessage), rt.ReplicationFactor)
	}
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 2 || resp.ControllerID < 1 {
		t.Errorf("%d brokers, controller %d; want 2 and a controller", len(resp.Brokers), resp.ControllerID)
	}
}

// testHostileInput sends requests full of nonsense (empty and null names,
// extreme counts, offsets and epochs, unknown types and operations) to the
// broker's handler at every version it advertises, after a round trip through
// the wire encoding, and checks that every answer encodes and that nothing
// was created.
func testHostileInput(t *testing.T, c *brokertest.Cluster) {
	b := c.Nodes[0].Broker
	before := len(c.Nodes[0].Member.Image().Topics())
	str := kmsg.StringPtr

	createTopics := kmsg.NewPtrCreateTopicsRequest()
	createTopics.TimeoutMillis = -1
	for _, tc := range []struct {
		name string
		n    int32
		rf   int16
	}{{"", math.MinInt32, math.MinInt16}, {"huge", math.MaxInt32, 1}, {"huge-rf", 1, math.MaxInt16}, {strings.Repeat("z", 10000), 1, 1}} {
		createTopics.Topics = append(createTopics.Topics, topicSpec(tc.name, tc.n, tc.rf))
	}
	badConfig := topicSpec("bad-config", 1, 1)
	badConfig.Configs = append(badConfig.Configs, kmsg.NewCreateTopicsRequestTopicConfig())
	createTopics.Topics = append(createTopics.Topics, badConfig)
	assigned := topicSpec("assigned-nil", -1, -1)
	assigned.ReplicaAssignment = append(assigned.ReplicaAssignment, kmsg.NewCreateTopicsRequestTopicReplicaAssignment())
	createTopics.Topics = append(createTopics.Topics, assigned)

	deleteTopics := kmsg.NewPtrDeleteTopicsRequest()
	deleteTopics.TopicNames = []string{"", "no-such-topic", "no-such-topic"}
	for _, dt := range []struct {
		name *string
		id   [16]byte
	}{{nil, [16]byte{}}, {str(""), [16]byte{}}, {nil, [16]byte{0xff}}, {nil, [16]byte{0xff}}, {str("x"), [16]byte{1}}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = dt.name, dt.id
		deleteTopics.Topics = append(deleteTopics.Topics, rt)
	}

	createPartitions := kmsg.NewPtrCreatePartitionsRequest()
	for _, cp := range []struct {
		name  string
		count int32
	}{{"", -1}, {"orders", math.MaxInt32}, {"orders", math.MinInt32}, {"orders", 0}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = cp.name, cp.count
		createPartitions.Topics = append(createPartitions.Topics, rt)
	}

	describeConfigs := kmsg.NewPtrDescribeConfigsRequest()
	describeConfigs.IncludeSynonyms, describeConfigs.IncludeDocumentation = true, true
	for _, dc := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{0, ""}, {kmsg.ConfigResourceTypeTopic, ""}, {kmsg.ConfigResourceTypeBroker, "abc"}, {kmsg.ConfigResourceTypeBroker, ""}, {-1, "x"}} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = dc.typ, dc.name, []string{"", "retention.ms"}
		describeConfigs.Resources = append(describeConfigs.Resources, rr)
	}

	alterConfigs := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, ac := range []struct {
		typ  kmsg.ConfigResourceType
		name string
		op   kmsg.IncrementalAlterConfigOp
		key  string
	}{{kmsg.ConfigResourceTypeTopic, "", 0, "retention.ms"}, {kmsg.ConfigResourceTypeTopic, "orders", 9, ""}, {kmsg.ConfigResourceTypeTopic, "grow", -3, "retention.ms"}, {kmsg.ConfigResourceTypeTopic, "tuned", 0, ""}, {0, "", 0, ""}} {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = ac.typ, ac.name
		rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		rc.Name, rc.Op = ac.key, ac.op
		rr.Configs = append(rr.Configs, rc)
		alterConfigs.Resources = append(alterConfigs.Resources, rr)
	}

	deleteRecords := kmsg.NewPtrDeleteRecordsRequest()
	offsetForEpoch := kmsg.NewPtrOffsetForLeaderEpochRequest()
	for _, name := range []string{"", "orders", "no-such-topic"} {
		dt := kmsg.NewDeleteRecordsRequestTopic()
		dt.Topic = name
		ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ot.Topic = name
		for _, p := range []int32{-1, 0, math.MaxInt32} {
			dp := kmsg.NewDeleteRecordsRequestTopicPartition()
			dp.Partition, dp.Offset = p, math.MinInt64
			dt.Partitions = append(dt.Partitions, dp)
			op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = p, math.MaxInt32, math.MinInt32
			ot.Partitions = append(ot.Partitions, op)
		}
		deleteRecords.Topics = append(deleteRecords.Topics, dt)
		offsetForEpoch.Topics = append(offsetForEpoch.Topics, ot)
	}

	requests := []kmsg.Request{createTopics, deleteTopics, createPartitions, describeConfigs, alterConfigs, deleteRecords, offsetForEpoch}
	for _, ep := range []int8{-1, 0, 2} {
		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.EndpointType = ep
		requests = append(requests, dc)
	}
	for _, ip := range []struct {
		id    int64
		epoch int16
	}{{-5, -5}, {math.MaxInt64, math.MaxInt16}, {0, -1}, {math.MinInt64, 0}} {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.ProducerID, req.ProducerEpoch = ip.id, ip.epoch
		requests = append(requests, req)
	}

	apis := broker.AdminAPIs()
	for _, req := range requests {
		vr, ok := apis[req.Key()]
		if !ok {
			t.Fatalf("%s is not served", kmsg.NameForKey(req.Key()))
		}
		for v := vr.Min; v <= vr.Max; v++ {
			req.SetVersion(v)
			wire := kmsg.RequestForKey(req.Key())
			wire.SetVersion(v)
			if err := wire.ReadFrom(req.AppendTo(nil)); err != nil {
				t.Fatalf("%s v%d: round trip: %v", kmsg.NameForKey(req.Key()), v, err)
			}
			resp, err := b.Handle(adminCtx(t), &kafkaserver.Request{Key: req.Key(), Version: v, Msg: wire})
			if err != nil || resp == nil || resp.Msg == nil {
				t.Errorf("%s v%d: answer %v, error %v", kmsg.NameForKey(req.Key()), v, resp, err)
				continue
			}
			resp.Msg.SetVersion(v)
			if len(resp.Msg.AppendTo(nil)) == 0 {
				t.Errorf("%s v%d: empty answer", kmsg.NameForKey(req.Key()), v)
			}
		}
	}
	if after := len(c.Nodes[0].Member.Image().Topics()); after != before {
		t.Errorf("%d topics before the nonsense, %d after", before, after)
	}
}
