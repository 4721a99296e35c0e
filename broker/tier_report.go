package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// ErrTieringOff means the broker has no object store (TierConfig.Store is
// nil): ask a broker that tiers.
var ErrTieringOff = errors.New("tiered storage is not configured on this broker")

// errNoClusterID: the store prefix defaults to one named after the cluster
// id, which the metadata does not have yet.
var errNoClusterID = errors.New("the cluster has no id yet, so its object store prefix is unknown: try again")

// TierSegment is one remote segment as the metadata records it.
type TierSegment struct {
	Partition    int32  `json:"partition"`
	BaseOffset   int64  `json:"base_offset"`
	EndOffset    int64  `json:"end_offset"`
	Size         int64  `json:"size"`
	MaxTimestamp int64  `json:"max_timestamp"`
	LeaderEpoch  int32  `json:"leader_epoch"`
	Key          string `json:"key"`
}

// TierPartitionTotals sums one partition's remote segments.
type TierPartitionTotals struct {
	Partition int32 `json:"partition"`
	Segments  int   `json:"segments"`
	Bytes     int64 `json:"bytes"`
	// RemoteStart is the first offset remote data serves; absent when the
	// partition has no remote segment.
	RemoteStart *int64 `json:"remote_start,omitempty"`
}

// TierListing is a topic's remote segments ("runnel tier ls").
type TierListing struct {
	Topic      string                `json:"topic"`
	TopicID    string                `json:"topic_id"`
	Segments   []TierSegment         `json:"segments"`
	Partitions []TierPartitionTotals `json:"partitions"`
	Total      struct {
		Segments int   `json:"segments"`
		Bytes    int64 `json:"bytes"`
	} `json:"total"`
}

// TierSegments lists a topic's remote segments as this broker's metadata
// image records them, by partition and base offset. It fails with
// metadata.ErrUnknownTopic for a topic the image does not have.
func (b *Broker) TierSegments(topic string) (TierListing, error) {
	t, ok := b.member.Image().Topic(topic)
	if !ok {
		return TierListing{}, fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, topic)
	}
	out := TierListing{Topic: t.Name, TopicID: t.ID.String(), Segments: []TierSegment{}, Partitions: []TierPartitionTotals{}}
	for _, p := range t.Partitions {
		pt := TierPartitionTotals{Partition: p.Index, Segments: len(p.RemoteSegments)}
		if start, ok := p.RemoteStart(); ok {
			pt.RemoteStart = &start
		}
		for _, s := range p.RemoteSegments {
			out.Segments = append(out.Segments, TierSegment{
				Partition: p.Index, BaseOffset: s.BaseOffset, EndOffset: s.EndOffset, Size: s.Size,
				MaxTimestamp: s.MaxTimestamp, LeaderEpoch: s.LeaderEpoch, Key: s.ObjectKey,
			})
			pt.Bytes += s.Size
		}
		out.Partitions = append(out.Partitions, pt)
		out.Total.Segments += pt.Segments
		out.Total.Bytes += pt.Bytes
	}
	return out, nil
}

// Kinds of TierProblem.
const (
	TierMissing      = "missing"       // a recorded segment's object is absent
	TierDamaged      = "damaged"       // its bytes do not match their CRC-32C
	TierSizeMismatch = "size_mismatch" // its .log object's size is not the recorded size
	TierUnreadable   = "unreadable"    // the store failed to give it
	TierOrphan       = "orphan"        // an object of a segment no record names
	TierUnrecognized = "unrecognized"  // an object under the cluster prefix that is no segment's file
)

// TierProblem is one thing "runnel tier verify" found wrong.
type TierProblem struct {
	Kind      string `json:"kind"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	Key       string `json:"key"`
	Detail    string `json:"detail,omitempty"`
}

// TierVerifyReport is what "runnel tier verify" found.
type TierVerifyReport struct {
	// Segments and Objects are how many recorded segments and objects
	// were read back whole; Bytes is how much that was.
	Segments int   `json:"segments"`
	Objects  int   `json:"objects"`
	Bytes    int64 `json:"bytes"`
	// Listed is how many objects the store holds under the prefix checked.
	Listed   int           `json:"listed"`
	Problems []TierProblem `json:"problems"`
	OK       bool          `json:"ok"`
}

// TierVerify reads back every object of every remote segment the metadata
// records (of topic, or of every topic when topic is empty), whole, so
// that the store checks its CRC-32C, and compares the .log object's size
// with the record's; then it lists the store for objects no record names
// (orphans: an upload in progress shows as one until its record commits)
// and keys that are no segment's file. It returns an error only when the
// check itself cannot run (no store, the listing fails).
func (b *Broker) TierVerify(ctx context.Context, topic string) (TierVerifyReport, error) {
	store := b.cfg.Tier.Store
	if store == nil {
		return TierVerifyReport{}, ErrTieringOff
	}
	prefix := b.tierPrefix()
	if prefix == "" {
		return TierVerifyReport{}, errNoClusterID
	}
	img := b.member.Image()
	topics := img.Topics()
	listPrefix := clusterListPrefix(prefix)
	if topic != "" {
		t, ok := img.Topic(topic)
		if !ok {
			return TierVerifyReport{}, fmt.Errorf("%w: %q", metadata.ErrUnknownTopic, topic)
		}
		topics = []*metadata.Topic{t}
		listPrefix = tiering.TopicPrefix(prefix, t.ID)
	}
	rep := TierVerifyReport{Problems: []TierProblem{}}
	named := map[string]bool{}
	for _, t := range topics {
		for _, p := range t.Partitions {
			for _, s := range p.RemoteSegments {
				named[s.ObjectKey] = true
				rep.Segments++
				for _, f := range tiering.SegmentFiles {
					key := tiering.SegmentObject(s.ObjectKey, f)
					n, err := readWhole(ctx, store, key)
					if err != nil && ctx.Err() != nil {
						return rep, ctx.Err()
					}
					problem := TierProblem{Topic: t.Name, Partition: p.Index, Key: key}
					switch {
					case errors.Is(err, tiering.ErrNotFound):
						problem.Kind = TierMissing
					case errors.Is(err, tiering.ErrChecksum):
						problem.Kind, problem.Detail = TierDamaged, err.Error()
					case err != nil:
						problem.Kind, problem.Detail = TierUnreadable, err.Error()
					case f == tiering.SegmentLogFile && n != s.Size:
						problem.Kind, problem.Detail = TierSizeMismatch, fmt.Sprintf("%d bytes, the record says %d", n, s.Size)
					}
					if err == nil {
						rep.Objects++
						rep.Bytes += n
					}
					if problem.Kind != "" {
						rep.Problems = append(rep.Problems, problem)
					}
				}
			}
		}
	}
	objs, err := listObjects(ctx, store, listPrefix)
	if err != nil {
		return rep, fmt.Errorf("list %q: %w", listPrefix, err)
	}
	rep.Listed = len(objs)
	now := time.Now()
	for _, o := range objs {
		k, seg, ok := segmentPrefixOf(prefix, o.Key)
		switch {
		case !ok:
			rep.Problems = append(rep.Problems, TierProblem{Kind: TierUnrecognized, Partition: -1, Key: o.Key, Detail: "not a remote segment's file"})
		case !named[seg]:
			pr := TierProblem{Kind: TierOrphan, Partition: k.Partition, Key: o.Key, Detail: "no metadata record names it; written " + now.Sub(o.ModTime).Round(time.Second).String() + " ago"}
			if t, ok := img.TopicByID(k.TopicID); ok {
				pr.Topic = t.Name
			} else {
				pr.Detail += "; its topic id is not in the metadata"
			}
			rep.Problems = append(rep.Problems, pr)
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// readWhole reads an object whole (the store checks its checksum at the
// end) and returns its length.
func readWhole(ctx context.Context, s tiering.Store, key string) (int64, error) {
	r, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(io.Discard, r)
}
