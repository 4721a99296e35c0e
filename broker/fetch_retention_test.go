package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

// TestRetentionDuringSlowFetch fetches a partition of many segments with a
// client that does not read yet (its receive buffer small), so the broker
// is stuck sending the response with sendfile; retention then deletes every
// segment but the active one. The response, read afterwards, still holds
// exactly the bytes that were in the log: the segments' files stayed open
// for it until it was written.
func TestRetentionDuringSlowFetch(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	segBytes, retention := "1048576", "1"
	b.CreateTopic("slow-reader", 1, map[string]*string{"segment.bytes": &segBytes, "retention.bytes": &retention})
	raw := newRawKafka(b)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 64; i++ { // 16 MiB in batches of 256 KiB: about 20 segments
		batch := randomBatch(t, rng, 64, 4096)
		if rp := raw.produce(t, 9, "slow-reader", 0, batch); rp.ErrorCode != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	l, ok := b.Log(commitlog.TopicPartition{Topic: "slow-reader", Partition: 0})
	if !ok {
		t.Fatal("no log")
	}
	want, _, err := l.ReadBatches(0, 1<<30, commitlog.ToHighWatermark)
	if err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many", len(segs))
	}

	// A client with a small receive buffer asks for everything and reads
	// nothing yet.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 11, -1, 64<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "slow-reader"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 64<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	before := b.Server.SendfileBytes()
	if _, err := conn.Write(frame(req, 7)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, time.Millisecond, func() error {
		if b.Server.SendfileBytes() == before {
			return errors.New("the broker has not started sending the response")
		}
		return nil
	})

	// Retention deletes every closed segment, files and all.
	if n, err := l.DeleteExpired(); err != nil || n != len(segs)-1 {
		t.Fatalf("retention deleted %d of %d segments: %v", n, len(segs)-1, err)
	}
	for _, s := range segs[:len(segs)-1] {
		if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("segment %s still on disk: %v", s.Path, err)
		}
	}
	if sent := b.Server.SendfileBytes() - before; sent >= int64(len(want)) {
		t.Fatalf("the response was sent whole (%d bytes) before retention ran: the test shows nothing", sent)
	}

	// The client reads the response now, slowly, in small pieces.
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("read the response size: %v", err)
	}
	n := int64(size[0])<<24 | int64(size[1])<<16 | int64(size[2])<<8 | int64(size[3])
	if _, err := io.CopyBuffer(&body, io.LimitReader(conn, n), make([]byte, 4096)); err != nil || int64(body.Len()) != n {
		t.Fatalf("read %d of %d response bytes: %v (the broker closed the connection?)", body.Len(), n, err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	if err := resp.ReadFrom(body.Bytes()[4:]); err != nil { // after the correlation id
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || !bytes.Equal(p.RecordBatches, want) {
		t.Fatalf("fetched %d bytes (%v), want the %d bytes of the log as it was: %s", len(p.RecordBatches), kerr.ErrorForCode(p.ErrorCode), len(want),
			firstDifference(p.RecordBatches, want))
	}
}

// firstDifference describes where two byte strings first differ.
func firstDifference(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d", i)
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}
