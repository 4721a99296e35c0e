package broker_test

import (
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAlterConfigs drives the legacy AlterConfigs API (kadm's *State calls)
// and raw requests: the request replaces a topic's dynamic configs (what it
// does not name returns to its default), validate_only changes nothing, each
// resource fails or succeeds on its own with IncrementalAlterConfigs'
// refusals, and broker resources are answered as Kafka does (nothing to
// reset: fine; a config: read-only).
func TestAlterConfigs(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	adm := b.Admin()
	ctx := adminCtx(t)
	b.CreateTopic("legacy", 1, map[string]*string{"retention.ms": kmsg.StringPtr("5000"), "min.insync.replicas": kmsg.StringPtr("1")})
	b.CreateTopic("legacy-other", 1, map[string]*string{"retention.ms": kmsg.StringPtr("6000")})

	source := func(topic, key string) (string, kmsg.ConfigSource) {
		c := describeTopicConfigs(t, adm, topic)[key]
		return c.MaybeValue(), c.Source
	}
	if v, s := source("legacy", "min.insync.replicas"); v != "1" || s != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("before: min.insync.replicas %q from %v", v, s)
	}

	resp, err := adm.ValidateAlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("1048576")}}, "legacy")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("validate only: %v %+v", err, resp)
	}
	if v, _ := source("legacy", "retention.ms"); v != "5000" {
		t.Fatalf("validate only changed retention.ms to %q", v)
	}

	resp, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("1048576")}}, "legacy")
	if err != nil || resp[0].Err != nil {
		t.Fatalf("replace: %v %+v", err, resp)
	}
	if v, s := source("legacy", "segment.bytes"); v != "1048576" || s != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("segment.bytes after replace: %q from %v", v, s)
	}
	for _, key := range []string{"retention.ms", "min.insync.replicas"} {
		if v, s := source("legacy", key); s != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s not in the request: %q from %v, want back at the default", key, v, s)
		}
	}
	if v, _ := source("legacy-other", "retention.ms"); v != "6000" {
		t.Errorf("another topic's retention.ms changed to %q", v)
	}

	alter := func(resources ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Resources = resources
		resp, err := req.RequestWith(ctx, b.Client().Broker(1))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Resources) != len(resources) {
			t.Fatalf("%d resources answered, %d asked", len(resp.Resources), len(resources))
		}
		return resp.Resources
	}
	resource := func(typ kmsg.ConfigResourceType, name string, kv ...*string) kmsg.AlterConfigsRequestResource {
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, name
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = *kv[i], kv[i+1]
			r.Configs = append(r.Configs, c)
		}
		return r
	}
	s := kmsg.StringPtr
	topic := kmsg.ConfigResourceTypeTopic
	for _, tc := range []struct {
		what string
		res  kmsg.AlterConfigsRequestResource
		want *kerr.Error
		msg  string
	}{
		{"unknown key", resource(topic, "legacy", s("no.such.config"), s("1")), kerr.InvalidConfig, "unknown topic config"},
		{"bad value", resource(topic, "legacy", s("retention.ms"), s("-5")), kerr.InvalidConfig, "retention.ms"},
		{"null value", resource(topic, "legacy", s("retention.ms"), nil), kerr.InvalidConfig, "null"},
		{"tiering without a store", resource(topic, "legacy", s("remote.storage.enable"), s("true")), kerr.InvalidConfig, "remote.storage.enable=true needs tiered storage"},
		{"duplicate key", resource(topic, "legacy", s("retention.ms"), s("1000"), s("retention.ms"), s("2000")), kerr.InvalidRequest, "more than once"},
		{"unknown topic", resource(topic, "no-such-topic", s("retention.ms"), s("1")), kerr.UnknownTopicOrPartition, "does not exist"},
		{"invalid topic name", resource(topic, "bad/name", s("retention.ms"), s("1")), kerr.InvalidTopicException, "invalid topic name"},
		{"broker config", resource(kmsg.ConfigResourceTypeBroker, "1", s("num.partitions"), s("3")), kerr.InvalidRequest, "read-only"},
		{"other broker", resource(kmsg.ConfigResourceTypeBroker, "2"), kerr.InvalidRequest, "this is broker 1"},
		{"group resource", resource(kmsg.ConfigResourceTypeBrokerLogger, "1"), kerr.InvalidRequest, "not supported"},
		{"broker, nothing to reset", resource(kmsg.ConfigResourceTypeBroker, "1"), nil, ""},
	} {
		rr := alter(tc.res)[0]
		if tc.want == nil {
			if rr.ErrorCode != 0 {
				t.Errorf("%s: %v %s", tc.what, kerr.ErrorForCode(rr.ErrorCode), msgOf(rr.ErrorMessage))
			}
			continue
		}
		wantKafkaErr(t, tc.what, rr.ErrorCode, rr.ErrorMessage, tc.want, tc.msg)
	}
	if v, _ := source("legacy", "segment.bytes"); v != "1048576" {
		t.Errorf("a refused resource changed segment.bytes to %q", v)
	}

	// Per-resource answers: one refused, one done, one listed twice.
	rrs := alter(resource(topic, "legacy", s("retention.ms"), s("-1x")),
		resource(topic, "legacy-other", s("retention.ms"), s("7000")),
		resource(topic, "dup"), resource(topic, "dup"))
	wantKafkaErr(t, "bad value beside a good resource", rrs[0].ErrorCode, rrs[0].ErrorMessage, kerr.InvalidConfig, "retention.ms")
	if rrs[1].ErrorCode != 0 {
		t.Errorf("good resource: %v %s", kerr.ErrorForCode(rrs[1].ErrorCode), msgOf(rrs[1].ErrorMessage))
	}
	wantKafkaErr(t, "resource listed twice", rrs[2].ErrorCode, rrs[2].ErrorMessage, kerr.InvalidRequest, "listed 2 times")
	if v, _ := source("legacy-other", "retention.ms"); v != "7000" {
		t.Errorf("legacy-other retention.ms %q after its resource succeeded, want 7000", v)
	}
	if !strings.Contains(msgOf(rrs[0].ErrorMessage), "-1x") {
		t.Errorf("the refusal does not name the value: %s", msgOf(rrs[0].ErrorMessage))
	}
}
