package broker

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// TestOffsetLag checks DescribeLogDirs' offset lag of one replica: 0 while
// it leads; as a follower, the high watermark its leader last reported
// minus its log end, never below 0.
func TestOffsetLag(t *testing.T) {
	l, err := commitlog.Open(t.TempDir(), commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := make([]recordbatch.Record, 3)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendReplica(batch); err != nil {
		t.Fatal(err)
	}
	p, err := newPartition(commitlog.TopicPartition{Topic: "lag", Partition: 0}, uuid.New(), l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.state.Store(&partitionState{isLeader: true, leader: 1})
	p.leaderHW.Store(10)
	if lag := p.offsetLag(); lag != 0 {
		t.Errorf("leader: offset lag %d, want 0", lag)
	}
	p.state.Store(&partitionState{leader: 2})
	if lag := p.offsetLag(); lag != 7 {
		t.Errorf("follower at log end 3, leader's high watermark 10: offset lag %d, want 7", lag)
	}
	p.leaderHW.Store(2)
	if lag := p.offsetLag(); lag != 0 {
		t.Errorf("follower ahead of the leader's high watermark: offset lag %d, want 0", lag)
	}
}
