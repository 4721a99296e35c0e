package broker

import (
	"maps"
	"strconv"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// topicConfigDefaults are the broker defaults of the topic configs Runnel
// understands, reported by DescribeConfigs as DEFAULT_CONFIG.
var topicConfigDefaults = map[string]string{
	"cleanup.policy":                  "delete",
	"delete.retention.ms":             strconv.FormatInt(commitlog.DefaultDeleteRetention.Milliseconds(), 10),
	"min.compaction.lag.ms":           "0",
	"min.cleanable.dirty.ratio":       strconv.FormatFloat(commitlog.DefaultMinCleanableDirtyRatio, 'g', -1, 64),
	"retention.ms":                    strconv.FormatInt(commitlog.DefaultRetentionTime.Milliseconds(), 10),
	"retention.bytes":                 "-1",
	"segment.bytes":                   strconv.Itoa(commitlog.DefaultSegmentBytes),
	"segment.ms":                      strconv.FormatInt(commitlog.DefaultSegmentTime.Milliseconds(), 10),
	"segment.index.bytes":             strconv.Itoa(commitlog.DefaultMaxIndexBytes),
	"index.interval.bytes":            strconv.Itoa(commitlog.DefaultIndexIntervalBytes),
	"max.message.bytes":               strconv.Itoa(commitlog.DefaultMaxMessageBytes),
	"min.insync.replicas":             "1",
	"replica.lag.time.max.ms":         strconv.FormatInt(DefaultReplicaLagTimeMax.Milliseconds(), 10),
	"unclean.leader.election.enable":  "false",
	"flush.messages":                  "9223372036854775807",
	"flush.ms":                        "9223372036854775807",
	"local.retention.ms":              "-2",
	"local.retention.bytes":           "-2",
	"remote.storage.enable":           "false",
	"message.timestamp.type":          "CreateTime",
	"message.timestamp.before.max.ms": strconv.FormatInt(recordbatch.NoTimestampLimit, 10),
	"message.timestamp.after.max.ms":  strconv.FormatInt(recordbatch.DefaultTimestampAfterMax.Milliseconds(), 10),
}

// topicDefaults returns the defaults of the topic configs on this broker:
// topicConfigDefaults with the broker's own settings of the keys it has
// flags for.
func (b *Broker) topicDefaults() map[string]string {
	d := maps.Clone(topicConfigDefaults)
	d["min.insync.replicas"] = strconv.Itoa(b.cfg.MinInsyncReplicas)
	d["replica.lag.time.max.ms"] = strconv.FormatInt(b.cfg.ReplicaLagTimeMax.Milliseconds(), 10)
	return d
}

// configInt returns the integer value of key in cfg, if it is set and parses.
func configInt(cfg map[string]string, key string) (int64, bool) {
	v, ok := cfg[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// logOptions turns a topic's config into log options; unset or unparsable keys
// keep the defaults (the controller validated the values).
func logOptions(cfg map[string]string) commitlog.Options {
	num := func(key string) (int64, bool) { return configInt(cfg, key) }
	var o commitlog.Options
	if n, ok := num("segment.bytes"); ok && n > 0 {
		o.SegmentBytes = n
	}
	if n, ok := num("segment.ms"); ok && n > 0 {
		o.SegmentTime = time.Duration(n) * time.Millisecond
	}
	if n, ok := num("segment.index.bytes"); ok && n > 0 && n < 1<<31 {
		o.MaxIndexBytes = int32(n)
	}
	if n, ok := num("index.interval.bytes"); ok && n >= 0 && n < 1<<31 {
		o.IndexIntervalBytes = int32(n)
	}
	if n, ok := num("max.message.bytes"); ok && n > 0 && n < 1<<31 {
		o.MaxMessageBytes = int32(n)
	}
	if n, ok := num("retention.ms"); ok {
		if n < 0 {
			o.RetentionTime = commitlog.Unlimited
		} else if n > 0 {
			o.RetentionTime = time.Duration(n) * time.Millisecond
		}
	}
	if n, ok := num("retention.bytes"); ok {
		if n < 0 {
			o.RetentionBytes = commitlog.Unlimited
		} else if n > 0 {
			o.RetentionBytes = n
		}
	}
	if n, ok := num("flush.messages"); ok && n > 0 && n < 1<<62 {
		o.FlushMessages = n
	}
	if n, ok := num("flush.ms"); ok && n > 0 && n < 1<<40 {
		o.FlushInterval = time.Duration(n) * time.Millisecond
	}
	if deletes, compacts, ok := metadata.CleanupPolicy(cfg[metadata.ConfigCleanupPolicy]); ok && compacts {
		o.Compact, o.CompactOnly = true, !deletes
	}
	if n, ok := num(metadata.ConfigDeleteRetentionMs); ok && n >= 0 && n < 1<<40 {
		// Zero would take the default: one millisecond is as good as none.
		o.DeleteRetention = max(time.Duration(n)*time.Millisecond, time.Millisecond)
	}
	if n, ok := num(metadata.ConfigMinCompactionLagMs); ok && n > 0 && n < 1<<40 {
		o.MinCompactionLag = time.Duration(n) * time.Millisecond
	}
	if r, err := strconv.ParseFloat(cfg[metadata.ConfigMinCleanableDirtyRatio], 64); err == nil && r >= 0 && r <= 1 {
		// Zero would take the default: the smallest ratio above it
		// cleans a log with any dirty byte.
		o.MinCleanableDirtyRatio = max(r, 1e-9)
	}
	tierLogOptions(cfg, &o)
	return o
}

// produceRules turns a topic's config into the rules the batches producers
// send it must follow (recordbatch.ValidateProduced), all but the clock,
// which the caller sets per request. Unset keys keep Kafka's defaults.
func produceRules(cfg map[string]string) recordbatch.ProduceRules {
	r := recordbatch.DefaultProduceRules(time.Time{})
	r.MaxBatchBytes = commitlog.DefaultMaxMessageBytes
	if n := logOptions(cfg).MaxMessageBytes; n > 0 {
		r.MaxBatchBytes = int(n)
	}
	r.LogAppendTime = cfg[metadata.ConfigMessageTimestampType] == "LogAppendTime"
	r.RequireKeys = logOptions(cfg).Compact
	if n, ok := configInt(cfg, metadata.ConfigMessageTimestampBeforeMaxMs); ok && n >= 0 {
		r.TimestampBeforeMax = n
	}
	if n, ok := configInt(cfg, metadata.ConfigMessageTimestampAfterMaxMs); ok && n >= 0 {
		r.TimestampAfterMax = n
	}
	return r
}
