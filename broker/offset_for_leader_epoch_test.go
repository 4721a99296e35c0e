package broker

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// TestEndOffsetForEpoch checks Kafka's OffsetForLeaderEpoch answers on a log
// with records in epochs 0 and 2, led now at epoch 4 with nothing appended in
// it yet: the current epoch counts as recorded from the log end.
func TestEndOffsetForEpoch(t *testing.T) {
	st, err := commitlog.OpenStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := st.Open(commitlog.TopicPartition{Topic: "epochs", Partition: 0}, commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN := func(n int, epoch int32) {
		t.Helper()
		recs := make([]recordbatch.Record, n)
		for i := range recs {
			recs[i] = recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: []byte("v")}
		}
		batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(batch, epoch); err != nil {
			t.Fatal(err)
		}
	}

	const current = 4
	if e, o := endOffsetForEpoch(l, current, current); e != current || o != 0 {
		t.Errorf("empty log: epoch %d end %d, want %d and 0", e, o, current)
	}
	appendN(3, 0)
	appendN(2, 2)
	for _, tc := range []struct {
		requested, epoch int32
		end              int64
	}{
		{-1, -1, -1},
		{0, 0, 3},
		{1, 0, 3},
		{2, 2, 5},
		{3, 2, 5},
		{4, 4, 5},
		{5, -1, -1},
	} {
		if e, o := endOffsetForEpoch(l, current, tc.requested); e != tc.epoch || o != tc.end {
			t.Errorf("epoch %d: answered epoch %d end %d, want %d and %d", tc.requested, e, o, tc.epoch, tc.end)
		}
	}
	appendN(1, current)
	if e, o := endOffsetForEpoch(l, current, 3); e != 2 || o != 5 {
		t.Errorf("epoch 3 once epoch 4 has records: epoch %d end %d, want 2 and 5", e, o)
	}
	if e, o := endOffsetForEpoch(l, current, current); e != current || o != 6 {
		t.Errorf("current epoch with records: epoch %d end %d, want %d and 6", e, o, current)
	}
}

// TestTopicConfigInfo checks that every topic config DescribeConfigs reports
// has a type, a broker-level synonym and documentation.
func TestTopicConfigInfo(t *testing.T) {
	for k := range topicConfigDefaults {
		info, ok := topicConfigInfo[k]
		if !ok || info.broker == "" || info.doc == "" || info.typ == 0 {
			t.Errorf("topic config %s has no complete entry in topicConfigInfo", k)
		}
	}
	for k := range topicConfigInfo {
		if _, ok := topicConfigDefaults[k]; !ok {
			t.Errorf("topicConfigInfo describes %s, which has no default", k)
		}
	}
}
