package group

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record of __consumer_offsets: a key and a value, nil for a
// tombstone.
type Record struct {
	Key, Value []byte
}

// Key versions of __consumer_offsets, as Kafka writes them: 0 and 1 are
// offset commits (Kafka writes 1), 2 is group metadata. Kafka's newer
// coordinator writes other versions (3 and up) for its own group types;
// those records are skipped when loading.
const (
	offsetKeyVersion = 1
	groupKeyVersion  = 2
	// offsetValueVersion is what Kafka writes for a commit without an
	// explicit expiry (OffsetCommitValue v3, with the leader epoch).
	offsetValueVersion = 3
	// groupValueVersion is GroupMetadataValue v3 (static members).
	groupValueVersion = 3
	maxValueVersion   = 4 // v4 is v3 in the flexible encoding (KIP-915)
)

// ErrBadRecord means a record of __consumer_offsets does not decode: the
// loader skips it and says so, it never stops loading the partition.
var ErrBadRecord = errors.New("group: malformed __consumer_offsets record")

// errUnknownKeyVersion marks a key of a record type this coordinator does
// not know (written by a newer Kafka); the loader skips it.
var errUnknownKeyVersion = errors.New("group: unknown __consumer_offsets key version")

// offsetKey encodes the key of a committed offset.
func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

// offsetValue encodes a committed offset: v3, or v1 when the commit set an
// expiry (OffsetCommit v2-v4 with a retention time).
func offsetValue(o Offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if o.ExpireTime > 0 {
		v.Version = 1 // the only version with an expire timestamp
	}
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp, v.ExpireTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime, o.ExpireTime
	return v.AppendTo(nil)
}

// groupKey encodes the key of a group's metadata.
func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// groupValue encodes a group's metadata as Kafka does after a rebalance.
func groupValue(g *kmsg.GroupMetadataValue) []byte {
	g.Version = groupValueVersion
	return g.AppendTo(nil)
}

// decodedKey is the key of a __consumer_offsets record: an offset commit
// (Topic set) or a group's metadata.
type decodedKey struct {
	isOffset  bool
	group     string
	topic     string
	partition int32
}

// decodeKey decodes a record key of any version Kafka uses for classic
// groups.
func decodeKey(b []byte) (decodedKey, error) {
	if len(b) < 2 {
		return decodedKey{}, fmt.Errorf("%w: key of %d bytes", ErrBadRecord, len(b))
	}
	switch v := int16(binary.BigEndian.Uint16(b)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(b); err != nil {
			return decodedKey{}, fmt.Errorf("%w: offset commit key: %v", ErrBadRecord, err)
		}
		return decodedKey{isOffset: true, group: k.Group, topic: k.Topic, partition: k.Partition}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(b); err != nil {
			return decodedKey{}, fmt.Errorf("%w: group metadata key: %v", ErrBadRecord, err)
		}
		return decodedKey{group: k.Group}, nil
	default:
		return decodedKey{}, fmt.Errorf("%w %d", errUnknownKeyVersion, v)
	}
}

// decodeOffsetValue decodes OffsetCommitValue v0 to v4.
func decodeOffsetValue(b []byte) (Offset, error) {
	var v kmsg.OffsetCommitValue
	if err := readVersioned(&v, b, "offset commit value"); err != nil {
		return Offset{}, err
	}
	o := Offset{Offset: v.Offset, LeaderEpoch: -1, Metadata: v.Metadata, CommitTime: v.CommitTimestamp, ExpireTime: -1}
	if v.Version >= 3 {
		o.LeaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.ExpireTime = v.ExpireTimestamp
	}
	if o.Offset < 0 {
		return Offset{}, fmt.Errorf("%w: negative committed offset %d", ErrBadRecord, o.Offset)
	}
	return o, nil
}

// decodeGroupValue decodes GroupMetadataValue v0 to v4.
func decodeGroupValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	v := new(kmsg.GroupMetadataValue)
	if err := readVersioned(v, b, "group metadata value"); err != nil {
		return nil, err
	}
	return v, nil
}

type versionedReader interface{ ReadFrom([]byte) error }

func readVersioned(v versionedReader, b []byte, what string) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %s of %d bytes", ErrBadRecord, what, len(b))
	}
	if ver := int16(binary.BigEndian.Uint16(b)); ver < 0 || ver > maxValueVersion {
		return fmt.Errorf("%w: %s version %d (want 0 to %d)", ErrBadRecord, what, ver, maxValueVersion)
	}
	if err := v.ReadFrom(b); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadRecord, what, err)
	}
	return nil
}
