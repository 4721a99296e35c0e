package kafkaserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchFixture is a Fetch handler whose partitions' record batches are
// spliced from files, mixed with one partition carrying plain bytes.
type fetchFixture struct {
	a, b      *os.File
	aData     []byte
	bData     []byte
	plain     []byte
	fileBytes int64 // bytes each response sends from files
}

func newFetchFixture(t testing.TB) *fetchFixture {
	dir := t.TempDir()
	fx := &fetchFixture{
		aData: pattern(300_000, 0x11),
		bData: pattern(5_000, 0x22),
		plain: []byte("not spliced"),
	}
	fx.a = tempFile(t, dir, fx.aData)
	fx.b = tempFile(t, dir, fx.bData)
	// Partition 0: a[100:200_100); partition 1: b[10:4_010) then a[0:50);
	// partition 2 of the second topic: an empty splice; partition 3: plain.
	fx.fileBytes = 200_000 + 4_000 + 50
	return fx
}

// want returns the RecordBatches each partition must decode to, by topic
// index and partition.
func (fx *fetchFixture) want() [][][]byte {
	return [][][]byte{
		{fx.aData[100:200_100], append(append([]byte(nil), fx.bData[10:4_010]...), fx.aData[:50]...)},
		{{}, fx.plain},
	}
}

func (fx *fetchFixture) handle(ctx context.Context, req *Request) (*Response, error) {
	fr := req.Msg.(*kmsg.FetchRequest)
	resp := &Response{}
	msg := kmsg.NewPtrFetchResponse()
	resp.Msg = msg
	for ti, regions := range [][][]commitlog.FileSlice{
		{
			{{File: fx.a, Position: 100, Size: 200_000}},
			{{File: fx.b, Position: 10, Size: 4_000}, {File: fx.a, Position: 0, Size: 50}},
		},
		{{}, nil},
	} {
		topic := kmsg.NewFetchResponseTopic()
		topic.Topic = fmt.Sprintf("topic-%d", ti)
		topic.TopicID[0] = byte(ti + 1)
		for pi, r := range regions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.HighWatermark = 1000
			if r != nil {
				p.RecordBatches = resp.Splice(r)
			} else {
				p.RecordBatches = fx.plain
			}
			topic.Partitions = append(topic.Partitions, p)
		}
		msg.Topics = append(msg.Topics, topic)
	}
	msg.SessionID = fr.SessionID
	return resp, nil
}

func (fx *fetchFixture) check(t testing.TB, resp *kmsg.FetchResponse) {
	t.Helper()
	want := fx.want()
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d topics, want %d", len(resp.Topics), len(want))
	}
	for ti, topic := range resp.Topics {
		if resp.Version < 13 && topic.Topic != fmt.Sprintf("topic-%d", ti) {
			t.Fatalf("topic %d named %q", ti, topic.Topic)
		}
		for pi, p := range topic.Partitions {
			if p.Partition != int32(pi) || p.HighWatermark != 1000 {
				t.Fatalf("topic %d partition %d decoded as %d hwm %d", ti, pi, p.Partition, p.HighWatermark)
			}
			if !bytes.Equal(p.RecordBatches, want[ti][pi]) {
				t.Fatalf("v%d topic %d partition %d: %d bytes differ from the %d expected", resp.Version, ti, pi, len(p.RecordBatches), len(want[ti][pi]))
			}
		}
	}
}

func TestSpliceSendfile(t *testing.T) {
	fx := newFetchFixture(t)
	reg := prometheus.NewRegistry()
	s, addr := startServer(t, Config{Handler: HandlerFunc(fx.handle), Metrics: reg})
	c := dialRaw(t, "tcp", addr)
	versions := []int16{4, 11, 12, 13, 16}
	for _, v := range versions {
		before := s.SendfileBytes()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		resp := c.recv(req, c.send(req)).(*kmsg.FetchResponse)
		fx.check(t, resp)
		if got := s.SendfileBytes() - before; got != fx.fileBytes {
			t.Fatalf("v%d: SendfileBytes grew by %d, want %d", v, got, fx.fileBytes)
		}
	}
	// Pipelined fetches interleave sendfile and coalesced writes in order.
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	before := s.SendfileBytes()
	var corrs []int32
	for range 10 {
		corrs = append(corrs, c.send(req))
	}
	for _, corr := range corrs {
		fx.check(t, c.recv(req, corr).(*kmsg.FetchResponse))
	}
	if got := s.SendfileBytes() - before; got != 10*fx.fileBytes {
		t.Fatalf("SendfileBytes grew by %d, want %d", got, 10*fx.fileBytes)
	}
	if got := counterSum(t, reg, "runnel_kafka_sendfile_bytes_total"); got != float64(s.SendfileBytes()) {
		t.Fatalf("sendfile bytes metric %v, SendfileBytes %d", got, s.SendfileBytes())
	}
	if got, want := counterSum(t, reg, "runnel_kafka_requests_total"), float64(len(versions)+10); got != want {
		t.Fatalf("requests metric %v, want %v", got, want)
	}
	if got := counterSum(t, reg, "runnel_kafka_sent_bytes_total"); got < float64(s.SendfileBytes()) {
		t.Fatalf("sent bytes metric %v below sendfile bytes %d", got, s.SendfileBytes())
	}
}

// Unix sockets have no sendfile path: the bytes are copied and not counted.
func TestSpliceUnixFallback(t *testing.T) {
	fx := newFetchFixture(t)
	path := filepath.Join(t.TempDir(), "kafka.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, Config{Handler: HandlerFunc(fx.handle)}, ln)
	c := dialRaw(t, "unix", path)
	for _, v := range []int16{4, 12} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		fx.check(t, c.recv(req, c.send(req)).(*kmsg.FetchResponse))
	}
	if got := s.SendfileBytes(); got != 0 {
		t.Fatalf("SendfileBytes = %d over a unix socket", got)
	}
}

// A file closed under the server, a region past the end of its file, or a
// placeholder misused closes the connection; others are unaffected.
func TestSpliceFailures(t *testing.T) {
	dir := t.TempDir()
	data := pattern(1000, 3)
	for name, tc := range map[string]func(resp *Response, p *kmsg.FetchResponseTopicPartition){
		"file closed": func(resp *Response, p *kmsg.FetchResponseTopicPartition) {
			f := tempFile(t, dir, data)
			p.RecordBatches = resp.Splice([]commitlog.FileSlice{{File: f, Size: 1000}})
			f.Close()
		},
		"short file": func(resp *Response, p *kmsg.FetchResponseTopicPartition) {
			p.RecordBatches = resp.Splice([]commitlog.FileSlice{{File: tempFile(t, dir, data), Position: 500, Size: 1000}})
		},
		"placeholder unused": func(resp *Response, p *kmsg.FetchResponseTopicPartition) {
			resp.Splice([]commitlog.FileSlice{{File: tempFile(t, dir, data), Size: 10}})
		},
		"placeholder in a string": func(resp *Response, p *kmsg.FetchResponseTopicPartition) {
			p.AbortedTransactions = nil
			resp.Msg.(*kmsg.FetchResponse).Topics[0].Topic = string(resp.Splice([]commitlog.FileSlice{{File: tempFile(t, dir, data), Size: 10}}))
		},
		"placeholder twice": func(resp *Response, p *kmsg.FetchResponseTopicPartition) {
			p.RecordBatches = resp.Splice([]commitlog.FileSlice{{File: tempFile(t, dir, data), Size: 10}})
			q := *p
			resp.Msg.(*kmsg.FetchResponse).Topics[0].Partitions = append(resp.Msg.(*kmsg.FetchResponse).Topics[0].Partitions, q)
		},
	} {
		t.Run(name, func(t *testing.T) {
			released := make(chan struct{}, 1)
			s, addr := startServer(t, Config{Handler: HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
				msg := kmsg.NewPtrFetchResponse()
				topic := kmsg.NewFetchResponseTopic()
				topic.Topic = "t"
				topic.Partitions = []kmsg.FetchResponseTopicPartition{kmsg.NewFetchResponseTopicPartition()}
				msg.Topics = []kmsg.FetchResponseTopic{topic}
				resp := &Response{Msg: msg, Release: func() { released <- struct{}{} }}
				tc(resp, &msg.Topics[0].Partitions[0])
				return resp, nil
			})})
			c := dialRaw(t, "tcp", addr)
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(11)
			c.send(req)
			c.expectClosed()
			<-released
			t.Logf("sendfile bytes before the failure: %d", s.SendfileBytes())
		})
	}
}

func TestSpliceParts(t *testing.T) {
	f := tempFile(t, t.TempDir(), pattern(10, 0))
	for _, flexible := range []bool{false, true} {
		resp := &Response{}
		msg := kmsg.NewPtrFetchResponse()
		if flexible {
			msg.SetVersion(12)
		} else {
			msg.SetVersion(11)
		}
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = resp.Splice([]commitlog.FileSlice{{File: f, Position: 2, Size: 5}})
		topic := kmsg.NewFetchResponseTopic()
		topic.Partitions = append(topic.Partitions, p)
		msg.Topics = append(msg.Topics, topic)
		parts, err := encodeResponse(nil, 1, 7, msg, resp.splices)
		if err != nil {
			t.Fatal(err)
		}
		var frame []byte
		for _, part := range parts {
			if part.region.File != nil {
				frame = append(frame, pattern(10, 0)[part.region.Position:part.region.Position+part.region.Size]...)
			} else {
				frame = append(frame, part.bytes...)
			}
		}
		got, corr, err := decodeResponse(frame[4:], 1, msg.Version)
		if err != nil || corr != 7 {
			t.Fatalf("flexible %v: %v corr %d", flexible, err, corr)
		}
		if rb := got.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches; !bytes.Equal(rb, pattern(10, 0)[2:7]) {
			t.Fatalf("flexible %v: record batches %x", flexible, rb)
		}
		if int(uint32(frame[0])<<24|uint32(frame[1])<<16|uint32(frame[2])<<8|uint32(frame[3])) != len(frame)-4 {
			t.Fatalf("flexible %v: frame size prefix wrong", flexible)
		}
	}
}
