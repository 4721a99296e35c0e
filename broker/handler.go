package broker

import (
	"context"
	"fmt"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiHandler serves one Kafka API.
type apiHandler struct {
	versions kafkaserver.VersionRange
	serve    func(b *Broker, ctx context.Context, req *kafkaserver.Request) (*kafkaserver.Response, error)
	// adminOnly APIs (Kafka's controller-only ones) are listed and served
	// on the admin listener only: see AdminAPIs.
	adminOnly bool
}

// apis lists every API the broker implements, with exactly the versions its
// handlers support. Each handler lives in a file named after its API key.
var apis = map[int16]apiHandler{}

// register adds an API; called from the init function of each handler file.
func register(key kmsg.Key, min, max int16, serve func(*Broker, context.Context, *kafkaserver.Request) (*kafkaserver.Response, error)) {
	apis[int16(key)] = apiHandler{versions: kafkaserver.VersionRange{Min: min, Max: max}, serve: serve}
}

// registerAdmin adds an API that only the admin listener serves.
func registerAdmin(key kmsg.Key, min, max int16, serve func(*Broker, context.Context, *kafkaserver.Request) (*kafkaserver.Response, error)) {
	apis[int16(key)] = apiHandler{versions: kafkaserver.VersionRange{Min: min, Max: max}, serve: serve, adminOnly: true}
}

// APIs returns the API keys and versions to configure the client Kafka
// server with: every API but the admin-only ones, which that server neither
// lists in ApiVersions nor serves (it closes a connection that sends one).
func APIs() map[int16]kafkaserver.VersionRange { return apiTable(false) }

// AdminAPIs returns the API keys and versions of the admin listener: every
// API, the admin-only ones (AddRaftVoter, RemoveRaftVoter: Kafka's
// controller-listener APIs) included.
func AdminAPIs() map[int16]kafkaserver.VersionRange { return apiTable(true) }

func apiTable(admin bool) map[int16]kafkaserver.VersionRange {
	out := make(map[int16]kafkaserver.VersionRange, len(apis))
	for k, h := range apis {
		if !h.adminOnly || admin {
			out[k] = h.versions
		}
	}
	return out
}

// Handle serves one Kafka request (kafkaserver.Handler).
func (b *Broker) Handle(ctx context.Context, req *kafkaserver.Request) (*kafkaserver.Response, error) {
	h, ok := apis[req.Key]
	if !ok {
		return nil, fmt.Errorf("no handler for api key %d", req.Key)
	}
	whole, patch, err := b.authorize(req)
	if err != nil || whole != nil {
		return whole, err
	}
	res := kafkaserver.Result{}
	res.Response, res.Err = h.serve(b, ctx, req)
	patchResult(&res, patch)
	return res.Response, res.Err
}

// HandleBatch serves requests that a client pipelined on one connection, in
// order (kafkaserver.BatchHandler): HandleBatchPipelined, then the waits it
// left to Finish, in order.
func (b *Broker) HandleBatch(ctx context.Context, reqs []*kafkaserver.Request) []kafkaserver.Result {
	out := b.HandleBatchPipelined(ctx, reqs)
	finishResults(ctx, out)
	return out
}

// HandleBatchPipelined serves requests that a client pipelined on one
// connection, in order (kafkaserver.PipelinedBatchHandler). Produce
// requests are served together, so that the records of all of them for one
// partition go to its log with one write, and an acks=-1 request's wait for
// its replicas is left to its Finish; any other requests one by one.
func (b *Broker) HandleBatchPipelined(ctx context.Context, reqs []*kafkaserver.Request) []kafkaserver.Result {
	out := make([]kafkaserver.Result, len(reqs))
	produce := true
	for _, r := range reqs {
		produce = produce && r.Key == int16(kmsg.Produce)
	}
	if produce {
		b.handleAuthorizedProduces(ctx, reqs, out)
		return out
	}
	for i, r := range reqs {
		out[i].Response, out[i].Err = b.Handle(ctx, r)
	}
	return out
}
