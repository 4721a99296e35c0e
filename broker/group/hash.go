package group

// javaStringHashCode is Java's String.hashCode over the UTF-16 code units
// of s, so that a group maps to the partition Kafka maps it to.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// PartitionFor is the partition of __consumer_offsets that holds group's
// records when the topic has n partitions: Kafka's
// Utils.abs(groupId.hashCode) % n, where abs(MinInt32) is 0.
func PartitionFor(group string, n int32) int32 {
	h := javaStringHashCode(group)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
