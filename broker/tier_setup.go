package broker

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// initTier sets up tiered storage when the config has an object store: the
// store is wrapped to count its failures, and the uploader made. It
// registers the tier metrics.
func (b *Broker) initTier() error {
	if b.cfg.Tier.Store == nil {
		return nil
	}
	rec, ok := b.member.(remoteSegmentRecorder)
	if !ok {
		return errors.New("tiered storage: the metadata member cannot record remote segments")
	}
	m := newTierMetrics()
	if b.cfg.Metrics != nil {
		for _, c := range m.collectors() {
			if err := b.cfg.Metrics.Register(c); err != nil {
				return fmt.Errorf("tier metrics: %w", err)
			}
		}
	}
	b.cfg.Tier.Store = countingStore{Store: b.cfg.Tier.Store, errs: m.remoteErrors}
	b.tierMetrics = m
	b.tier = newTierUploader(b, b.cfg.Tier.Store, rec, m)
	return nil
}

// startTier runs the uploader until the broker stops.
func (b *Broker) startTier() {
	if b.tier == nil {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.tier.run(b.stop)
	}()
}

// wakeTier tells the uploader that the partitions' states changed.
func (b *Broker) wakeTier() {
	if b.tier != nil {
		b.tier.wake()
	}
}

// closeTier unregisters the tier metrics.
func (b *Broker) closeTier() {
	if b.tierMetrics != nil && b.cfg.Metrics != nil {
		for _, c := range b.tierMetrics.collectors() {
			b.cfg.Metrics.Unregister(c)
		}
	}
}

// tierLogOptions applies KIP-405's local retention to the log options of a
// remote.storage.enable topic: local.retention.ms and .bytes bound the
// local copy (-2, the default, follows retention.ms and .bytes, which then
// bound the whole log, remote included), and only segments already
// uploaded may go (commitlog.Options.Tiered).
func tierLogOptions(cfg map[string]string, o *commitlog.Options) {
	if !tieredConfig(cfg) {
		return
	}
	o.Tiered = true
	if n, ok := configInt(cfg, metadata.ConfigLocalRetentionMs); ok && n != -2 {
		switch {
		case n < 0:
			o.RetentionTime = commitlog.Unlimited
		case n > 0:
			o.RetentionTime = time.Duration(n) * time.Millisecond
		}
	}
	if n, ok := configInt(cfg, metadata.ConfigLocalRetentionBytes); ok && n != -2 {
		switch {
		case n < 0:
			o.RetentionBytes = commitlog.Unlimited
		case n > 0:
			o.RetentionBytes = n
		}
	}
}

// checkTierConfig refuses, with INVALID_CONFIG, a topic config (the whole
// config a creation or alteration gives; old is the topic's config before,
// nil for a creation) that turns on remote storage on a broker without an
// object store or on a compacted topic, or turns it off once on (Kafka
// before KIP-950 refuses that too: the remote segments would be lost).
func (b *Broker) checkTierConfig(cfg, old map[string]string) error {
	if !tieredConfig(cfg) {
		if tieredConfig(old) {
			return refuse(kerr.InvalidConfig, "%s cannot be turned off once on: the topic's remote segments would be lost", metadata.ConfigRemoteStorageEnable)
		}
		return nil
	}
	if b.cfg.Tier.Store == nil {
		return refuse(kerr.InvalidConfig, "%s", tierConfigError())
	}
	if _, compacts, _ := metadata.CleanupPolicy(cfg[metadata.ConfigCleanupPolicy]); compacts {
		return refuse(kerr.InvalidConfig, "%s=true needs %s=delete: compacted topics are not tiered", metadata.ConfigRemoteStorageEnable, metadata.ConfigCleanupPolicy)
	}
	// As Kafka: the local copy cannot be kept longer than the whole log.
	for _, kv := range [][2]string{{metadata.ConfigLocalRetentionMs, metadata.ConfigRetentionMs}, {metadata.ConfigLocalRetentionBytes, metadata.ConfigRetentionBytes}} {
		local, lok := configInt(cfg, kv[0])
		total, tok := configInt(cfg, kv[1])
		if lok && tok && total >= 0 && local != -2 && (local < 0 || local > total) {
			return refuse(kerr.InvalidConfig, "%s=%d is more than %s=%d: the local copy cannot outlast the whole log", kv[0], local, kv[1], total)
		}
	}
	return nil
}

// alteredConfig is cfg after change.
func alteredConfig(cfg map[string]string, change controller.AlterConfigsRequest) map[string]string {
	out := maps.Clone(cfg)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, change.Set)
	for _, k := range change.Delete {
		delete(out, k)
	}
	return out
}

// tierPrefix is where this cluster's objects live in the store:
// Config.Tier.Prefix, or "runnel/<cluster id>" when it is empty (the id the
// first controller stored in the metadata, the same on every broker); ""
// while the metadata has no cluster id yet.
func (b *Broker) tierPrefix() string {
	if b.cfg.Tier.Prefix != "" {
		return b.cfg.Tier.Prefix
	}
	if id := b.member.Image().ClusterID(); id != "" {
		return "runnel/" + id
	}
	return ""
}
