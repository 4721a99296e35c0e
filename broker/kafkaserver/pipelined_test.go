package kafkaserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// pipelinedHandler echoes produce requests (TimeoutMillis into
// ThrottleMillis); those with Acks -1 are answered by a Finish that waits
// for the test to close gates[id].
type pipelinedHandler struct {
	gates map[int32]chan struct{}

	mu      sync.Mutex
	handled []int32 // ids in the order HandleBatchPipelined saw them
}

func (h *pipelinedHandler) Handle(ctx context.Context, req *Request) (*Response, error) {
	return nil, fmt.Errorf("Handle called for key %d: ordered requests must go to HandleBatchPipelined", req.Key)
}

func (h *pipelinedHandler) HandleBatch(ctx context.Context, reqs []*Request) []Result {
	panic("HandleBatch called: the server must prefer HandleBatchPipelined")
}

func (h *pipelinedHandler) HandleBatchPipelined(ctx context.Context, reqs []*Request) []Result {
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		m := r.Msg.(*kmsg.ProduceRequest)
		resp := kmsg.NewPtrProduceResponse()
		resp.ThrottleMillis = m.TimeoutMillis
		h.mu.Lock()
		h.handled = append(h.handled, m.TimeoutMillis)
		h.mu.Unlock()
		if m.Acks != -1 {
			out[i].Response = &Response{Msg: resp}
			continue
		}
		gate := h.gates[m.TimeoutMillis]
		out[i].Finish = func(ctx context.Context) (*Response, error) {
			select {
			case <-gate:
				return &Response{Msg: resp}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return out
}

func (h *pipelinedHandler) handledCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.handled)
}

// With a PipelinedBatchHandler, the ordered requests after one whose
// Finish is still waiting are handled meanwhile, and the responses still
// leave in request order, whichever Finish returns first.
func TestPipelinedHandlerHandlesNextWhileFinishWaits(t *testing.T) {
	h := &pipelinedHandler{gates: map[int32]chan struct{}{0: make(chan struct{}), 1: make(chan struct{})}}
	_, addr := startServer(t, Config{Handler: h})
	c := dialRaw(t, "tcp", addr)
	reqs := []*kmsg.ProduceRequest{produceReq(0, nil), produceReq(1, nil), produceReq(2, nil)}
	reqs[0].Acks, reqs[1].Acks = -1, -1 // 2 keeps acks=1: answered at once
	for i, r := range reqs {
		c.send(r)
		// Each request is handled while the Finish of those before it
		// still waits.
		testwait.For(t, 10*time.Second, time.Millisecond, func() error {
			if n := h.handledCount(); n != i+1 {
				return fmt.Errorf("%d requests handled, want %d", n, i+1)
			}
			return nil
		})
	}
	close(h.gates[1]) // the second finishes first...
	close(h.gates[0])
	for i, r := range reqs { // ...and is still answered second
		resp := c.recv(r, int32(i+1)).(*kmsg.ProduceResponse)
		if resp.ThrottleMillis != int32(i) {
			t.Fatalf("response %d answers produce %d", i, resp.ThrottleMillis)
		}
	}
}
