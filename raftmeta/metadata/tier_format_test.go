package metadata

import (
	"strings"
	"testing"
)

// TestTieringFormatVersion: the fenced RemoteSegmentAdded and
// RemoteLogStartMoved are encoded at format version 3, which nodes that
// would apply them unfenced refuse to decode.
func TestTieringFormatVersion(t *testing.T) {
	for _, r := range []Record{
		{RemoteSegmentAdded: &RemoteSegmentAdded{Partition: 0, BrokerID: 1, Segment: RemoteSegment{EndOffset: 9, ObjectKey: "k", Size: 1, LeaderEpoch: 2}}},
		{RemoteLogStartMoved: &RemoteLogStartMoved{Partition: 0, Offset: 5}},
	} {
		data, err := Encode(Batch{Records: []Record{r}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), `{"v":3,`) {
			t.Fatalf("%s encoded %s, want version 3", r.Type(), data)
		}
		old := strings.Replace(string(data), `{"v":3,`, `{"v":2,`, 1)
		if _, err := Decode([]byte(old)); err == nil {
			t.Fatalf("%s labelled version 2 decoded", r.Type())
		}
	}
}
