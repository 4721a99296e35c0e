package tiering

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// A remote segment is a set of objects sharing one prefix, the SegmentKey:
//
//	<cluster prefix>/<topic id>/<partition>/<base offset, 20 digits>-<leader epoch>-<upload id>/<file>
//
// The topic id (not the name) keeps a re-created topic's objects apart from
// the old one's; the leader epoch and a fresh random upload id keep two
// leaders' uploads of the same range apart, so that no upload ever targets an
// object another one wrote. The files are those of the local segment, byte
// for byte, plus the partition state a reader of the range needs.
const (
	// SegmentLogFile holds the segment's record batches (the .log file).
	SegmentLogFile = "segment.log"
	// SegmentIndexFile is its sparse offset index (the .index file).
	SegmentIndexFile = "segment.index"
	// SegmentTimeIndexFile is its time index (the .timeindex file).
	SegmentTimeIndexFile = "segment.timeindex"
	// SegmentEpochsFile lists the leader epochs that begin at or before the
	// segment's end offset, in the leader-epoch checkpoint file's format.
	SegmentEpochsFile = "leader-epoch.checkpoint"
	// SegmentProducersFile is the producer-state snapshot taken when the
	// segment rolled.
	SegmentProducersFile = "producer.snapshot"
)

// SegmentFiles are the objects every remote segment has, in upload order:
// the log last, so that a segment whose log exists is complete.
var SegmentFiles = []string{SegmentIndexFile, SegmentTimeIndexFile, SegmentEpochsFile, SegmentProducersFile, SegmentLogFile}

// SegmentKey names one uploaded copy of a segment.
type SegmentKey struct {
	// ClusterPrefix is where the cluster's objects live in the store
	// (e.g. "runnel/<cluster id>"); it may be empty.
	ClusterPrefix string
	TopicID       uuid.UUID
	Partition     int32
	BaseOffset    int64
	LeaderEpoch   int32
	// UploadID is random per upload attempt (NewSegmentKey draws it).
	UploadID uuid.UUID
}

// NewSegmentKey returns the key of a new upload of the segment at base,
// with a fresh upload id.
func NewSegmentKey(clusterPrefix string, topicID uuid.UUID, partition int32, base int64, leaderEpoch int32) SegmentKey {
	return SegmentKey{ClusterPrefix: clusterPrefix, TopicID: topicID, Partition: partition, BaseOffset: base, LeaderEpoch: leaderEpoch, UploadID: uuid.New()}
}

// PartitionPrefix is the prefix under which every remote segment of a
// topic's partition lives (with a trailing '/').
func PartitionPrefix(clusterPrefix string, topicID uuid.UUID, partition int32) string {
	return TopicPrefix(clusterPrefix, topicID) + strconv.FormatInt(int64(partition), 10) + "/"
}

// TopicPrefix is the prefix under which every remote segment of a topic
// lives (with a trailing '/').
func TopicPrefix(clusterPrefix string, topicID uuid.UUID) string {
	p := topicID.String() + "/"
	if clusterPrefix != "" {
		p = strings.TrimSuffix(clusterPrefix, "/") + "/" + p
	}
	return p
}

// String is the key's prefix, as recorded in the segment's metadata
// (metadata.RemoteSegment.ObjectKey): the objects are String()+"/"+file.
func (k SegmentKey) String() string {
	return fmt.Sprintf("%s%020d-%d-%s", PartitionPrefix(k.ClusterPrefix, k.TopicID, k.Partition), k.BaseOffset, k.LeaderEpoch, k.UploadID)
}

// Object is the key of one of the segment's files (one of SegmentFiles).
func (k SegmentKey) Object(file string) string { return k.String() + "/" + file }

// SegmentObject is the key of file in the remote segment whose recorded
// ObjectKey is prefix.
func SegmentObject(prefix, file string) string { return prefix + "/" + file }

// ParseSegmentKey reads back a key String made under clusterPrefix; it
// accepts the key of a segment's prefix or of one of its files, and
// returns the file name ("" for the prefix itself).
func ParseSegmentKey(clusterPrefix, key string) (SegmentKey, string, error) {
	rest := key
	if clusterPrefix != "" {
		cp := strings.TrimSuffix(clusterPrefix, "/") + "/"
		if !strings.HasPrefix(rest, cp) {
			return SegmentKey{}, "", fmt.Errorf("%w: %q is not under %q", ErrInvalidKey, key, cp)
		}
		rest = rest[len(cp):]
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 && len(parts) != 4 {
		return SegmentKey{}, "", fmt.Errorf("%w: %q is not a segment key", ErrInvalidKey, key)
	}
	k := SegmentKey{ClusterPrefix: strings.TrimSuffix(clusterPrefix, "/")}
	var err error
	if k.TopicID, err = uuid.Parse(parts[0]); err != nil {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: topic id: %v", ErrInvalidKey, key, err)
	}
	p, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || p < 0 {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: bad partition %q", ErrInvalidKey, key, parts[1])
	}
	k.Partition = int32(p)
	fields := strings.SplitN(parts[2], "-", 3)
	if len(fields) != 3 || len(fields[0]) != 20 {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: want <base>-<epoch>-<upload id>", ErrInvalidKey, key)
	}
	if k.BaseOffset, err = strconv.ParseInt(fields[0], 10, 64); err != nil || k.BaseOffset < 0 {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: bad base offset", ErrInvalidKey, key)
	}
	e, err := strconv.ParseInt(fields[1], 10, 32)
	if err != nil || e < 0 {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: bad leader epoch", ErrInvalidKey, key)
	}
	k.LeaderEpoch = int32(e)
	if k.UploadID, err = uuid.Parse(fields[2]); err != nil {
		return SegmentKey{}, "", fmt.Errorf("%w: %q: upload id: %v", ErrInvalidKey, key, err)
	}
	file := ""
	if len(parts) == 4 {
		file = parts[3]
	}
	return k, file, nil
}
