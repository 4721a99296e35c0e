package broker

import (
	"context"
	"slices"
	"strconv"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeConfigs, 1, 4, (*Broker).handleDescribeConfigs) }

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	name     string
	value    *string
	source   kmsg.ConfigSource
	readOnly bool
	typ      kmsg.ConfigType
	doc      string
	synonyms []configSynonym
}

// configSynonym is a config that the entry's value comes from or overrides,
// most specific first (Kafka lists the entry itself first).
type configSynonym struct {
	name   string
	value  *string
	source kmsg.ConfigSource
}

// topicConfigInfo describes the topic configs of topicConfigDefaults: their
// type, a line of documentation and the broker config that supplies the
// default in Kafka.
var topicConfigInfo = map[string]struct {
	typ    kmsg.ConfigType
	broker string
	doc    string
}{
	"cleanup.policy":                  {kmsg.ConfigTypeList, "log.cleanup.policy", "how old records go: delete removes whole segments by retention.ms and retention.bytes; compact keeps the last record of every key; compact,delete does both"},
	"delete.retention.ms":             {kmsg.ConfigTypeLong, "log.cleaner.delete.retention.ms", "how long a compacted topic keeps a tombstone after the cleaner first cleaned it"},
	"min.compaction.lag.ms":           {kmsg.ConfigTypeLong, "log.cleaner.min.compaction.lag.ms", "records newer than this are not compacted"},
	"min.cleanable.dirty.ratio":       {kmsg.ConfigTypeDouble, "log.cleaner.min.cleanable.ratio", "a compacted log is cleaned once this share of its closed bytes was not yet cleaned"},
	"retention.ms":                    {kmsg.ConfigTypeLong, "log.retention.ms", "how long to keep a segment after its newest record; -1 keeps forever"},
	"retention.bytes":                 {kmsg.ConfigTypeLong, "log.retention.bytes", "the most bytes a partition keeps before old segments go; -1 is unlimited"},
	"segment.bytes":                   {kmsg.ConfigTypeInt, "log.segment.bytes", "a segment rolls when it reaches this size"},
	"segment.ms":                      {kmsg.ConfigTypeLong, "log.roll.ms", "a segment rolls when its first record is this old"},
	"segment.index.bytes":             {kmsg.ConfigTypeInt, "log.index.size.max.bytes", "the largest offset index of a segment"},
	"index.interval.bytes":            {kmsg.ConfigTypeInt, "log.index.interval.bytes", "bytes of records between two offset index entries"},
	"max.message.bytes":               {kmsg.ConfigTypeInt, "message.max.bytes", "the largest record batch a producer may send"},
	"min.insync.replicas":             {kmsg.ConfigTypeInt, "min.insync.replicas", "in-sync replicas needed to accept a produce with acks=all"},
	"replica.lag.time.max.ms":         {kmsg.ConfigTypeLong, "replica.lag.time.max.ms", "how long a follower may go without catching up to its leader before it leaves the ISR"},
	"unclean.leader.election.enable":  {kmsg.ConfigTypeBoolean, "unclean.leader.election.enable", "whether a replica outside the ISR may become leader, losing data"},
	"flush.messages":                  {kmsg.ConfigTypeLong, "log.flush.interval.messages", "records appended between two fsyncs"},
	"flush.ms":                        {kmsg.ConfigTypeLong, "log.flush.interval.ms", "the longest time between two fsyncs"},
	"local.retention.ms":              {kmsg.ConfigTypeLong, "log.local.retention.ms", "how long tiered segments stay on local disk; -2 follows retention.ms"},
	"local.retention.bytes":           {kmsg.ConfigTypeLong, "log.local.retention.bytes", "local bytes kept of a tiered partition; -2 follows retention.bytes"},
	"remote.storage.enable":           {kmsg.ConfigTypeBoolean, "remote.log.storage.system.enable", "whether closed segments are tiered to object storage"},
	"message.timestamp.type":          {kmsg.ConfigTypeString, "log.message.timestamp.type", "CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's clock on append"},
	"message.timestamp.before.max.ms": {kmsg.ConfigTypeLong, "log.message.timestamp.before.max.ms", "how far in the past a CreateTime record's timestamp may be; older records are refused"},
	"message.timestamp.after.max.ms":  {kmsg.ConfigTypeLong, "log.message.timestamp.after.max.ms", "how far in the future a CreateTime record's timestamp may be; later records are refused"},
}

// topicConfigEntries lists every config of a topic with the overrides in
// cfg: all keys of defaults (Broker.topicDefaults), plus any other key cfg
// holds, sorted by name.
func topicConfigEntries(cfg, defaults map[string]string) []configEntry {
	names := make([]string, 0, len(defaults)+len(cfg))
	for k := range defaults {
		names = append(names, k)
	}
	for k := range cfg {
		if _, ok := defaults[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	out := make([]configEntry, 0, len(names))
	for _, name := range names {
		info := topicConfigInfo[name]
		e := configEntry{name: name, typ: info.typ, doc: info.doc, source: kmsg.ConfigSourceDefaultConfig}
		if e.typ == kmsg.ConfigTypeUnknown {
			e.typ = kmsg.ConfigTypeString
		}
		if v, ok := cfg[name]; ok {
			e.value, e.source = &v, kmsg.ConfigSourceDynamicTopicConfig
			e.synonyms = append(e.synonyms, configSynonym{name, e.value, e.source})
		}
		if def, ok := defaults[name]; ok {
			if e.value == nil {
				e.value = &def
			}
			syn := name
			if info.broker != "" {
				syn = info.broker
			}
			e.synonyms = append(e.synonyms, configSynonym{syn, &def, kmsg.ConfigSourceDefaultConfig})
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries lists the broker settings DescribeConfigs reports, all
// read-only: the ones this broker was configured with, then the broker-wide
// defaults behind the topic configs.
func (b *Broker) brokerConfigEntries() []configEntry {
	static := func(name, value string, typ kmsg.ConfigType, doc string) configEntry {
		v := value
		return configEntry{name: name, value: &v, source: kmsg.ConfigSourceStaticBrokerConfig, readOnly: true, typ: typ, doc: doc,
			synonyms: []configSynonym{{name, &v, kmsg.ConfigSourceStaticBrokerConfig}}}
	}
	id := strconv.Itoa(int(b.cfg.BrokerID))
	out := []configEntry{
		static("broker.id", id, kmsg.ConfigTypeInt, "this broker's id"),
		static("node.id", id, kmsg.ConfigTypeInt, "this node's id in the metadata quorum"),
		static("log.dirs", b.cfg.DataDir, kmsg.ConfigTypeString, "the directory holding the partition logs"),
		static("auto.create.topics.enable", strconv.FormatBool(b.cfg.AutoCreateTopics), kmsg.ConfigTypeBoolean, "whether Metadata requests create the topics they name"),
		static("num.partitions", strconv.Itoa(int(b.cfg.DefaultPartitions)), kmsg.ConfigTypeInt, "partitions of auto-created topics and of CreateTopics with -1"),
		static("log.retention.check.interval.ms", strconv.FormatInt(b.cfg.RetentionCheckInterval.Milliseconds(), 10), kmsg.ConfigTypeLong, "how often retention runs"),
		static("log.flush.offset.checkpoint.interval.ms", strconv.FormatInt(b.cfg.CheckpointInterval.Milliseconds(), 10), kmsg.ConfigTypeInt, "how often recovery points, high watermarks and log start offsets are checkpointed"),
	}
	rack := configEntry{name: "broker.rack", source: kmsg.ConfigSourceStaticBrokerConfig, readOnly: true, typ: kmsg.ConfigTypeString, doc: "this broker's rack, for replica placement"}
	if br, ok := b.member.Image().Broker(b.cfg.BrokerID); ok && br.Rack != "" {
		r := br.Rack
		rack.value = &r
		rack.synonyms = []configSynonym{{rack.name, &r, rack.source}}
	}
	out = append(out, rack)
	def := func(name, value string, typ kmsg.ConfigType, doc string) configEntry {
		v := value
		return configEntry{name: name, value: &v, source: kmsg.ConfigSourceDefaultConfig, readOnly: true, typ: typ, doc: doc,
			synonyms: []configSynonym{{name, &v, kmsg.ConfigSourceDefaultConfig}}}
	}
	out = append(out, def("default.replication.factor", "1", kmsg.ConfigTypeShort, "replication factor of auto-created topics and of CreateTopics with -1"))
	defaults := b.topicDefaults()
	for topicKey, info := range topicConfigInfo {
		out = append(out, def(info.broker, defaults[topicKey], info.typ, "default of the topic config "+topicKey+": "+info.doc))
	}
	slices.SortFunc(out, func(a, b configEntry) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(out, func(a, b configEntry) bool { return a.name == b.name })
}

// handleDescribeConfigs describes topic and broker configs. A topic lists
// every config Runnel knows with the topic's overrides (DYNAMIC_TOPIC_CONFIG)
// and the defaults (DEFAULT_CONFIG); a broker, named by its id, lists its
// settings, all read-only; the empty broker name (cluster-wide dynamic
// defaults) lists none, as there are none. Requested config names (null or
// empty means all) filter the list; names Runnel does not know are left out,
// as Kafka does.
func (b *Broker) handleDescribeConfigs(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.member.Image()
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		entries, err := b.describeResource(img, res)
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		var want map[string]bool
		if len(res.ConfigNames) > 0 {
			want = make(map[string]bool, len(res.ConfigNames))
			for _, n := range res.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.name] {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value, rc.ReadOnly, rc.Source = e.name, e.value, e.readOnly, e.source
			rc.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
			rc.ConfigType = e.typ
			if req.IncludeDocumentation && e.doc != "" {
				doc := e.doc
				rc.Documentation = &doc
			}
			if req.IncludeSynonyms {
				for _, s := range e.synonyms {
					rs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					rs.Name, rs.Value, rs.Source = s.name, s.value, s.source
					rc.ConfigSynonyms = append(rc.ConfigSynonyms, rs)
				}
			}
			rr.Configs = append(rr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// describeResource returns the configs of one DescribeConfigs resource.
func (b *Broker) describeResource(img *metadata.Image, res kmsg.DescribeConfigsRequestResource) ([]configEntry, error) {
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := metadata.ValidateTopicName(res.ResourceName); err != nil {
			return nil, refuse(kerr.InvalidTopicException, "invalid topic name %q", res.ResourceName)
		}
		t, ok := img.Topic(res.ResourceName)
		if !ok {
			return nil, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", res.ResourceName)
		}
		return topicConfigEntries(t.Config, b.topicDefaults()), nil
	case kmsg.ConfigResourceTypeBroker:
		switch res.ResourceName {
		case "":
			return nil, nil
		case strconv.Itoa(int(b.cfg.BrokerID)):
			return b.brokerConfigEntries(), nil
		}
		return nil, refuse(kerr.InvalidRequest, "broker %q: this is broker %d; ask each broker for its own configs, or use the empty name for cluster defaults", res.ResourceName, b.cfg.BrokerID)
	}
	return nil, refuse(kerr.InvalidRequest, "configs of resource type %s (%d) are not supported; use TOPIC (2) or BROKER (4)", res.ResourceType, int8(res.ResourceType))
}
