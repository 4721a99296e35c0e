package backend

import (
	"fmt"
	"testing"
)

// murmur2 is an independent transcription of Kafka's Utils.murmur2 (Java),
// to check the partitioner against.
func murmur2(data []byte) int32 {
	const seed, m, r = uint32(0x9747b28c), uint32(0x5bd1e995), 24
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is Kafka's BuiltInPartitioner.partitionForKey:
// Utils.toPositive(Utils.murmur2(key)) % numPartitions.
func javaPartition(key []byte, n int32) int32 { return (murmur2(key) & 0x7fffffff) % n }

func TestMurmur2MatchesJava(t *testing.T) {
	// From Kafka's UtilsTest.testMurmur2.
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
		"":    275646681,
	} {
		if got := murmur2([]byte(key)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestKeyPartitionMatchesJava(t *testing.T) {
	// Partitions the Java client picks, worked out from the hashes above.
	for _, c := range []struct {
		key  string
		want [4]int32 // among 3, 6, 12 and 100 partitions
	}{
		{"21", [4]int32{0, 0, 0, 40}},
		{"foobar", [4]int32{0, 0, 6, 66}},
		{"abc", [4]int32{0, 3, 3, 7}},
		{"user-42", [4]int32{1, 4, 4, 60}},
		{"order-1001", [4]int32{0, 0, 6, 78}},
		{"", [4]int32{0, 3, 9, 81}},
	} {
		for i, n := range []int32{3, 6, 12, 100} {
			if got := keyPartition([]byte(c.key), n); got != c.want[i] {
				t.Errorf("key %q among %d partitions: %d, want %d", c.key, n, got, c.want[i])
			}
		}
	}
	for i := range 5000 {
		key := fmt.Appendf(nil, "key-%d-%x", i, i*7919)
		for _, n := range []int32{1, 2, 7, 16, 1000} {
			if got, want := keyPartition(key, n), javaPartition(key, n); got != want {
				t.Fatalf("key %q among %d partitions: %d, Java picks %d", key, n, got, want)
			}
		}
	}
	// A keyed event's partition costs no allocation (a pool drops some
	// of what it is given under -race, hence below one, not zero).
	key := []byte("user-42")
	if n := testing.AllocsPerRun(1000, func() { keyPartition(key, 6) }); n >= 0.5 {
		t.Errorf("keyPartition allocates %v times per call", n)
	}
}
