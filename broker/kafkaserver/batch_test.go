package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// batchHandler echoes produce requests (TimeoutMillis into ThrottleMillis)
// and metadata requests, one by one or in batches, recording each call.
// The first call closes entered and blocks until release is closed.
type batchHandler struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	batch   func(reqs []*Request) []Result // replaces the echo of HandleBatch when set

	mu    sync.Mutex
	calls []string // "H:<key>" or "B:<key>x<n>"
}

func (h *batchHandler) wait() {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
}

func (h *batchHandler) record(s string) {
	h.mu.Lock()
	h.calls = append(h.calls, s)
	h.mu.Unlock()
}

func (h *batchHandler) echo(req *Request) *Response {
	switch m := req.Msg.(type) {
	case *kmsg.ProduceRequest:
		resp := kmsg.NewPtrProduceResponse()
		resp.ThrottleMillis = m.TimeoutMillis
		return &Response{Msg: resp}
	default:
		return metadataResponse(req)
	}
}

func (h *batchHandler) Handle(ctx context.Context, req *Request) (*Response, error) {
	h.wait()
	h.record(fmt.Sprintf("H:%d", req.Key))
	return h.echo(req), nil
}

func (h *batchHandler) HandleBatch(ctx context.Context, reqs []*Request) []Result {
	h.wait()
	h.record(fmt.Sprintf("B:%dx%d", reqs[0].Key, len(reqs)))
	if h.batch != nil {
		return h.batch(reqs)
	}
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		if r.Key != reqs[0].Key {
			panic("a batch mixes API keys")
		}
		out[i].Response = h.echo(r)
	}
	return out
}

// produceReq is a produce request that the batch handler echoes by id.
func produceReq(id int32, records []byte) *kmsg.ProduceRequest {
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Acks, p.TimeoutMillis = 1, id
	tp := kmsg.NewProduceRequestTopicPartition()
	tp.Records = records
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "t"
	t.Partitions = append(t.Partitions, tp)
	p.Topics = append(p.Topics, t)
	return p
}

// startBlockedBatch starts a server with h, sends reqs pipelined, the first
// alone, and waits until the server has decoded all of them while the first
// one is still being handled, so that the rest is queued behind it; then it
// lets the handler go on.
func startBlockedBatch(t *testing.T, h *batchHandler, reqs []kmsg.Request) *rawClient {
	t.Helper()
	reg := prometheus.NewRegistry()
	_, addr := startServer(t, Config{Handler: h, Metrics: reg, OrderedAPIs: []int16{0, 3}})
	c := dialRaw(t, "tcp", addr)
	c.send(reqs[0])
	<-h.entered
	for _, r := range reqs[1:] {
		c.send(r)
	}
	testwait.For(t, 10*time.Second, time.Millisecond, func() error {
		if got := counterSum(t, reg, "runnel_kafka_requests_total"); got != float64(len(reqs)) {
			return fmt.Errorf("%v of %d requests decoded", got, len(reqs))
		}
		return nil
	})
	close(h.release)
	return c
}

// Ordered requests queued while an earlier one is handled reach a
// BatchHandler together, split into runs of one API key, and are answered
// in order.
func TestBatchHandlerGetsQueuedRequests(t *testing.T) {
	h := &batchHandler{entered: make(chan struct{}), release: make(chan struct{})}
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	var reqs []kmsg.Request
	for i := range int32(10) {
		if i == 6 {
			reqs = append(reqs, meta)
			continue
		}
		reqs = append(reqs, produceReq(i, pattern(int(i)*5000, byte(i))))
	}
	c := startBlockedBatch(t, h, reqs)
	for i, r := range reqs {
		resp := c.recv(r, int32(i+1))
		if p, ok := resp.(*kmsg.ProduceResponse); ok && p.ThrottleMillis != int32(i) {
			t.Fatalf("response %d answers produce %d", i, p.ThrottleMillis)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []string{"H:0", "B:0x5", "H:3", "B:0x3"}; !slices.Equal(h.calls, want) {
		t.Fatalf("handler calls %v, want %v", h.calls, want)
	}
}

// A HandleBatch that panics or answers with the wrong number of results
// closes the connection after the responses to earlier requests.
func TestBatchHandlerFailures(t *testing.T) {
	for name, batch := range map[string]func([]*Request) []Result{
		"panic":         func([]*Request) []Result { panic("boom") },
		"short results": func(reqs []*Request) []Result { return make([]Result, len(reqs)-1) },
		"error": func(reqs []*Request) []Result {
			ok := kmsg.NewPtrProduceResponse()
			ok.ThrottleMillis = 1
			return []Result{{Response: &Response{Msg: ok}}, {Err: errors.New("failed")}, {}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &batchHandler{entered: make(chan struct{}), release: make(chan struct{}), batch: batch}
			reqs := []kmsg.Request{produceReq(0, nil), produceReq(1, nil), produceReq(2, nil), produceReq(3, nil)}
			c := startBlockedBatch(t, h, reqs)
			c.recv(reqs[0], 1)
			if name == "error" {
				c.recv(reqs[1], 2) // answered before the one that failed
			}
			c.expectClosed()
		})
	}
}

// The reader stops reading while the request bytes in flight would pass
// MaxInFlightBytesPerConn, and admits a request of any size when nothing
// else is in flight.
func TestInFlightByteBudget(t *testing.T) {
	s := &Server{cfg: Config{MaxInFlightBytesPerConn: 100}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &conn{s: s, ctx: ctx, bytesFreed: make(chan struct{}, 1)}
	if err := c.admit(500); err != nil { // alone: admitted whatever its size
		t.Fatal(err)
	}
	c.release(500)
	if err := c.admit(60); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.admit(60) }()
	select {
	case err := <-done:
		t.Fatalf("admitted 60 bytes over a budget of 100 with 60 in flight (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.release(60)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := c.inflightBytes.Load(); got != 60 {
		t.Fatalf("%d bytes in flight, want 60", got)
	}
	go func() { done <- c.admit(60) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("admit after cancel: %v", err)
	}

	// End to end: big pipelined requests over a small budget all get
	// their answers, in order.
	h := &batchHandler{entered: make(chan struct{}), release: make(chan struct{})}
	close(h.release)
	h.once.Do(func() {})
	_, addr := startServer(t, Config{Handler: h, MaxInFlightBytesPerConn: 64 << 10})
	rc := dialRaw(t, "tcp", addr)
	var sent []kmsg.Request
	go func() {
		for i := range int32(40) {
			r := produceReq(i, pattern(40<<10, byte(i)))
			rc.send(r)
		}
	}()
	for i := range int32(40) {
		sent = append(sent, produceReq(i, nil))
		if p := rc.recv(sent[i], i+1).(*kmsg.ProduceResponse); p.ThrottleMillis != i {
			t.Fatalf("response %d answers produce %d", i, p.ThrottleMillis)
		}
	}
}
