package group

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Key types (the schemas' apiKey) of Kafka's KIP-848 records in
// __consumer_offsets. Type 4 (ConsumerGroupPartitionMetadata) is
// deprecated since Kafka 4.1: read and ignored, never written.
const (
	cgMetadataType          int16 = 3 // ConsumerGroupMetadata: the group epoch
	cgPartitionMetadataType int16 = 4
	cgMemberMetadataType    int16 = 5 // ConsumerGroupMemberMetadata: a member's subscription
	cgTargetMetadataType    int16 = 6 // ConsumerGroupTargetAssignmentMetadata: the target's epoch
	cgTargetMemberType      int16 = 7 // ConsumerGroupTargetAssignmentMember: a member's target
	cgCurrentAssignmentType int16 = 8 // ConsumerGroupCurrentMemberAssignment: what a member owns
)

// cgValueVersion is the only value version of every KIP-848 record.
const cgValueVersion = 0

// Member states of a ConsumerGroupCurrentMemberAssignment value.
const (
	cgStateUnknown              int8 = 0
	cgStateStable               int8 = 1
	cgStateUnrevokedPartitions  int8 = 2
	cgStateUnreleasedPartitions int8 = 3
)

// key848 is the key of a KIP-848 record: its type, the group, and the
// member for the per-member types (5, 7, 8).
type key848 struct {
	typ    int16
	group  string
	member string
}

// hasMember reports whether records of type typ are per member.
func hasMember(typ int16) bool {
	return typ == cgMemberMetadataType || typ == cgTargetMemberType || typ == cgCurrentAssignmentType
}

// encode renders k as Kafka's (non-flexible) key: the type, then the
// group id and, for member records, the member id as int16-length
// strings.
func (k key848) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(k.typ))
	b = appendKeyString(b, k.group)
	if hasMember(k.typ) {
		b = appendKeyString(b, k.member)
	}
	return b
}

func appendKeyString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// decodeKey848 decodes a key of types 3 to 8.
func decodeKey848(b []byte) (key848, error) {
	r := reader848{b: b}
	k := key848{typ: r.int16()}
	if k.typ < cgMetadataType || k.typ > cgCurrentAssignmentType {
		return key848{}, fmt.Errorf("%w: key type %d is not a consumer group record", ErrBadRecord, k.typ)
	}
	k.group = r.keyString()
	if hasMember(k.typ) {
		k.member = r.keyString()
	}
	if err := r.done("consumer group key"); err != nil {
		return key848{}, err
	}
	return k, nil
}

// cgMetadataValue is ConsumerGroupMetadataValue v0.
type cgMetadataValue struct {
	epoch          int32
	metadataHash   int64 // tag 0; default 0
	creationTimeMs int64 // tag 1; default -1
}

func (v cgMetadataValue) encode() []byte {
	b := valueHeader()
	b = binary.BigEndian.AppendUint32(b, uint32(v.epoch))
	tags := int64Tag(nil, 0, v.metadataHash, 0)
	return appendTags(b, int64Tag(tags, 1, v.creationTimeMs, -1))
}

func decodeCGMetadataValue(b []byte) (cgMetadataValue, error) {
	r := valueReader(b)
	v := cgMetadataValue{epoch: r.int32(), creationTimeMs: -1}
	r.tags(func(t uint64, tr *reader848) bool {
		switch t {
		case 0:
			v.metadataHash = tr.int64()
		case 1:
			v.creationTimeMs = tr.int64()
		default:
			return false
		}
		return true
	})
	return v, r.done("consumer group metadata value")
}

// cgMemberValue is ConsumerGroupMemberMetadataValue v0 (without the
// ClassicMemberMetadata tag, which is read and ignored).
type cgMemberValue struct {
	instanceID, rackID   *string
	clientID, clientHost string
	topics               []string
	regex                *string
	rebalanceTimeoutMs   int32
	serverAssignor       *string
}

func (v cgMemberValue) encode() []byte {
	b := valueHeader()
	b = appendNullableString(b, v.instanceID)
	b = appendNullableString(b, v.rackID)
	b = appendCompactString(b, v.clientID)
	b = appendCompactString(b, v.clientHost)
	b = binary.AppendUvarint(b, uint64(len(v.topics))+1)
	for _, t := range v.topics {
		b = appendCompactString(b, t)
	}
	b = appendNullableString(b, v.regex)
	b = binary.BigEndian.AppendUint32(b, uint32(v.rebalanceTimeoutMs))
	b = appendNullableString(b, v.serverAssignor)
	return appendTags(b, nil)
}

func decodeCGMemberValue(b []byte) (cgMemberValue, error) {
	r := valueReader(b)
	var v cgMemberValue
	v.instanceID = r.nullableString()
	v.rackID = r.nullableString()
	v.clientID = r.string()
	v.clientHost = r.string()
	if n := r.arrayLen(1); n >= 0 {
		v.topics = make([]string, 0, n)
		for range n {
			v.topics = append(v.topics, r.string())
		}
	} else {
		r.fail("null SubscribedTopicNames")
	}
	v.regex = r.nullableString()
	v.rebalanceTimeoutMs = r.int32()
	v.serverAssignor = r.nullableString()
	r.tags(nil)
	return v, r.done("consumer group member metadata value")
}

// cgTargetMetadataValue is ConsumerGroupTargetAssignmentMetadataValue v0.
type cgTargetMetadataValue struct {
	assignmentEpoch int32
	timestampMs     int64 // tag 0, ignorable; 0 when absent, never written
}

func (v cgTargetMetadataValue) encode() []byte {
	b := valueHeader()
	b = binary.BigEndian.AppendUint32(b, uint32(v.assignmentEpoch))
	return appendTags(b, int64Tag(nil, 0, v.timestampMs, 0))
}

func decodeCGTargetMetadataValue(b []byte) (cgTargetMetadataValue, error) {
	r := valueReader(b)
	v := cgTargetMetadataValue{assignmentEpoch: r.int32()}
	r.tags(func(t uint64, tr *reader848) bool {
		if t != 0 {
			return false
		}
		v.timestampMs = tr.int64()
		return true
	})
	return v, r.done("consumer group target assignment metadata value")
}

// topicPartitions848 is one topic's partitions in a target or current
// assignment; epochs (KIP-1251's AssignmentEpochs tag, current assignment
// only) is nil when absent, else aligned with partitions.
type topicPartitions848 struct {
	topicID    [16]byte
	partitions []int32
	epochs     []int32
}

func appendTopicPartitions(b []byte, tps []topicPartitions848, withEpochs bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(tps))+1)
	for _, tp := range tps {
		b = append(b, tp.topicID[:]...)
		b = appendInt32s(b, tp.partitions)
		var tags []tag848
		if withEpochs && tp.epochs != nil {
			tags = append(tags, tag848{0, appendInt32s(nil, tp.epochs)})
		}
		b = appendTags(b, tags)
	}
	return b
}

// topicPartitions reads a TopicPartitions array; withEpochs reads the
// AssignmentEpochs tag (current assignments), else it is skipped.
func (r *reader848) topicPartitions(withEpochs bool) []topicPartitions848 {
	n := r.arrayLen(17) // a uuid and an array length at least
	if n < 0 {
		r.fail("null topic partitions")
		return nil
	}
	out := make([]topicPartitions848, 0, n)
	for range n {
		var tp topicPartitions848
		copy(tp.topicID[:], r.bytes(16))
		tp.partitions = r.int32s()
		r.tags(func(t uint64, tr *reader848) bool {
			if t != 0 || !withEpochs {
				return false
			}
			if n := tr.arrayLen(4); n >= 0 {
				tp.epochs = make([]int32, 0, n)
				for range n {
					tp.epochs = append(tp.epochs, tr.int32())
				}
			}
			return true
		})
		if tp.epochs != nil && len(tp.epochs) != len(tp.partitions) {
			r.fail(fmt.Sprintf("%d assignment epochs for %d partitions", len(tp.epochs), len(tp.partitions)))
		}
		if r.err != nil {
			return nil
		}
		out = append(out, tp)
	}
	return out
}

// cgTargetMemberValue is ConsumerGroupTargetAssignmentMemberValue v0.
type cgTargetMemberValue struct {
	partitions []topicPartitions848
}

func (v cgTargetMemberValue) encode() []byte {
	b := appendTopicPartitions(valueHeader(), v.partitions, false)
	return appendTags(b, nil)
}

func decodeCGTargetMemberValue(b []byte) (cgTargetMemberValue, error) {
	r := valueReader(b)
	v := cgTargetMemberValue{partitions: r.topicPartitions(false)}
	r.tags(nil)
	return v, r.done("consumer group target assignment member value")
}

// cgCurrentValue is ConsumerGroupCurrentMemberAssignmentValue v0.
type cgCurrentValue struct {
	memberEpoch, previousMemberEpoch int32
	state                            int8
	assigned, revoking               []topicPartitions848
}

func decodeCGCurrentValue(b []byte) (cgCurrentValue, error) {
	r := valueReader(b)
	var v cgCurrentValue
	v.memberEpoch = r.int32()
	v.previousMemberEpoch = r.int32()
	v.state = int8(r.int8())
	v.assigned = r.topicPartitions(true)
	v.revoking = r.topicPartitions(true)
	r.tags(nil)
	return v, r.done("consumer group current member assignment value")
}

func (v cgCurrentValue) encode() []byte {
	b := valueHeader()
	b = binary.BigEndian.AppendUint32(b, uint32(v.memberEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(v.previousMemberEpoch))
	b = append(b, byte(v.state))
	b = appendTopicPartitions(b, v.assigned, true)
	b = appendTopicPartitions(b, v.revoking, true)
	return appendTags(b, nil)
}

// Encoding helpers of the flexible value format.

type tag848 struct {
	tag  uint64
	data []byte
}

func valueHeader() []byte {
	return binary.BigEndian.AppendUint16(make([]byte, 0, 64), cgValueVersion)
}

func appendCompactString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s))+1)
	return append(b, s...)
}

func appendNullableString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendCompactString(b, *s)
}

func appendInt32s(b []byte, vs []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(vs))+1)
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// int64Tag adds an int64 tagged field unless v is its default.
func int64Tag(tags []tag848, tag uint64, v, def int64) []tag848 {
	if v == def {
		return tags
	}
	return append(tags, tag848{tag, binary.BigEndian.AppendUint64(nil, uint64(v))})
}

// appendTags writes the tagged-field section; tags must be in ascending
// order.
func appendTags(b []byte, tags []tag848) []byte {
	b = binary.AppendUvarint(b, uint64(len(tags)))
	for _, t := range tags {
		b = binary.AppendUvarint(b, t.tag)
		b = binary.AppendUvarint(b, uint64(len(t.data)))
		b = append(b, t.data...)
	}
	return b
}

// reader848 decodes what nothing vouches for: every length is checked
// against the bytes left, the first problem sticks in err and later reads
// return zero values.
type reader848 struct {
	b   []byte
	err error
}

func (r *reader848) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrBadRecord, what)
	}
	r.b = nil
}

func (r *reader848) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(fmt.Sprintf("%d bytes wanted, %d left", n, len(r.b)))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// fixed reads an n-byte big-endian integer (0 once anything failed).
func (r *reader848) fixed(n int) uint64 {
	var v uint64
	for _, x := range r.bytes(n) {
		v = v<<8 | uint64(x)
	}
	return v
}

func (r *reader848) int8() byte   { return byte(r.fixed(1)) }
func (r *reader848) int16() int16 { return int16(r.fixed(2)) }
func (r *reader848) int32() int32 { return int32(r.fixed(4)) }
func (r *reader848) int64() int64 { return int64(r.fixed(8)) }

func (r *reader848) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad unsigned varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// valueReader reads a value, starting with its version.
func valueReader(b []byte) *reader848 {
	r := &reader848{b: b}
	r.version()
	return r
}

// version reads a value's version, which must be 0.
func (r *reader848) version() {
	if v := r.int16(); r.err == nil && v != cgValueVersion {
		r.fail(fmt.Sprintf("value version %d (want %d)", v, cgValueVersion))
	}
}

func (r *reader848) keyString() string {
	n := r.int16()
	if n < 0 {
		r.fail("null key string")
		return ""
	}
	return string(r.bytes(int(n)))
}

// compactLen reads a compact length (uvarint n+1): -1 for null.
func (r *reader848) compactLen() int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > uint64(len(r.b))+1 || v > math.MaxInt32 {
		r.fail(fmt.Sprintf("length %d with %d bytes left", int64(v)-1, len(r.b)))
		return 0
	}
	return int(v) - 1
}

func (r *reader848) string() string {
	n := r.compactLen()
	if n < 0 {
		r.fail("null string")
		return ""
	}
	return string(r.bytes(n))
}

func (r *reader848) nullableString() *string {
	n := r.compactLen()
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.bytes(n))
	return &s
}

// arrayLen reads a compact array length; each element takes at least
// minSize bytes, so a count the bytes left cannot hold is refused before
// anything is allocated. -1 is a null array.
func (r *reader848) arrayLen(minSize int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v == 0 {
		return -1
	}
	if n := v - 1; n > uint64(len(r.b)/minSize) {
		r.fail(fmt.Sprintf("array of %d with %d bytes left", n, len(r.b)))
		return 0
	}
	return int(v - 1)
}

func (r *reader848) int32s() []int32 {
	n := r.arrayLen(4)
	if n < 0 {
		r.fail("null partitions")
		return nil
	}
	out := make([]int32, 0, n)
	for range n {
		out = append(out, r.int32())
	}
	return out
}

// tags reads a tagged-field section, handing each tag's bytes to fn,
// which reports whether it knows the tag; unknown tags (and every tag when
// fn is nil) are skipped.
func (r *reader848) tags(fn func(tag uint64, tr *reader848) bool) {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(fmt.Sprintf("%d tags with %d bytes left", n, len(r.b)))
		return
	}
	var last uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		t := r.uvarint()
		if i > 0 && t <= last {
			r.fail("tags out of order")
			return
		}
		last = t
		size := r.compactLen() + 1 // a tag's size is a plain uvarint
		data := r.bytes(size)
		if r.err != nil || fn == nil {
			continue
		}
		tr := reader848{b: data}
		if !fn(t, &tr) {
			continue
		}
		if tr.err == nil && len(tr.b) > 0 {
			tr.fail(fmt.Sprintf("tag %d has %d bytes left over", t, len(tr.b)))
		}
		if tr.err != nil {
			r.err = fmt.Errorf("tag %d: %w", t, tr.err)
			r.b = nil
		}
	}
}

// done reports the first problem, or bytes left over after the value.
func (r *reader848) done(what string) error {
	if r.err == nil && len(r.b) > 0 {
		r.fail(fmt.Sprintf("%d bytes left over", len(r.b)))
	}
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	return nil
}
