package kafkaserver

import "context"

// PipelinedBatchHandler is a BatchHandler that can finish a request later:
// HandleBatchPipelined does the part of each request that must happen in
// arrival order (a produce request's append) and may leave the rest, a
// wait, to the Result's Finish. The server then calls the Finish functions
// of a connection one at a time, in request order, on a goroutine of their
// own, while the ordered handler goes on with the requests after them: a
// producer pipelining acks=all requests has its next batches appended
// while the earlier ones wait for their replicas, as Kafka's purgatory
// lets the next request in while one waits. Responses still leave in
// request order.
type PipelinedBatchHandler interface {
	BatchHandler
	// HandleBatchPipelined is HandleBatch, except that a Result may set
	// Finish, which answers the request instead of Response and Err. ctx
	// is the one Finish gets.
	HandleBatchPipelined(ctx context.Context, reqs []*Request) []Result
}

// finishing is a request whose handler left the answer to Finish.
type finishing struct {
	sl     *slot
	req    *Request
	finish func(ctx context.Context) (*Response, error)
}

// finishLoop calls the Finish functions the ordered handler passes on, in
// order, until it closes c.finishing, and completes their slots.
func (c *conn) finishLoop() {
	for f := range c.finishing {
		func() {
			defer c.handlers.Done()
			defer close(f.sl.done)
			defer c.recoverInto(f.sl)
			resp, err := f.finish(c.ctx)
			c.complete(f.sl, f.req, resp, err)
		}()
	}
}
