package broker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
)

// ErrLocalRequest wraps every reason HandleLocal refuses a request before
// serving it (an API or version the client listener does not serve): the
// caller sent what no Kafka client could, and should fix the request.
var ErrLocalRequest = errors.New("broker: request not served in process")

// LocalClientID is the client id in-process requests carry, as a network
// request carries its client's (InitProducerID and the logs use it).
const LocalClientID = "runnel-local"

var localClientID = LocalClientID

// HandleLocal serves one Kafka request from inside the process, as the
// client listener serves it for a connection without SASL (Identity nil:
// the caller, a gateway in the same process, has authorized the request
// itself), and returns the response message. It is a function call: no
// connection, no encoding (except to inline file regions, below) and no
// goroutine beyond those the handler itself starts.
//
// It does what kafkaserver does around Broker.Handle:
//   - the request's API and version must be one the client listener serves
//     (APIs); otherwise an error wrapping ErrLocalRequest, where the server
//     would close the connection. ApiVersions and the SASL APIs, answered
//     by the server itself, are refused so too.
//   - runnel_broker_local_requests_total counts it by API, as
//     runnel_kafka_requests_total counts the listener's requests (which
//     in-process requests leave alone, so that those count clients).
//   - a produce is served by the broker's produce path (handleProduces):
//     the append, and with acks=-1 the wait for the high watermark to pass
//     the records (min.insync.replicas, timeout_ms from the append),
//     returning when that ends or ctx does. With acks=0 nothing is returned
//     (nil response), as nothing is sent to a client.
//   - the request carries the zero ConnInfo (no addresses; Listener "",
//     the client listener's name, so Metadata advertises its addresses)
//     and ClientID LocalClientID. No frame is encoded, so no
//     MaxRequestBytes applies: the caller bounds its batches (the gateway
//     at its MaxBatchBytes); the topic's max.message.bytes still does.
//   - the response's version is set to the request's; a response whose
//     record batches are file regions (Fetch) has their bytes read into it
//     (kafkaserver.Response.Inline), and Response.Release is called before
//     HandleLocal returns, so the result holds no file. Response.Sent,
//     which counts sendfile bytes to followers, is not called: nothing is
//     sent with sendfile.
//   - a handler error is returned (the server would log it and close the
//     connection) and a handler panic becomes an error, as the server
//     recovers it; both count in runnel_broker_local_request_errors_total.
//
// There is no throttling on either path. req is not kept after HandleLocal
// returns, nor are byte slices in it (a produce's records are copied into
// the log), so the caller may reuse them. Safe for concurrent use.
func (b *Broker) HandleLocal(ctx context.Context, req kmsg.Request) (resp kmsg.Response, err error) {
	if req == nil {
		return nil, fmt.Errorf("%w: nil request", ErrLocalRequest)
	}
	key, version := req.Key(), req.GetVersion()
	h, ok := apis[key]
	if !ok || h.adminOnly {
		return nil, fmt.Errorf("%w: api key %d (%s) has no in-process handler", ErrLocalRequest, key, kmsg.NameForKey(key))
	}
	if version < h.versions.Min || version > h.versions.Max {
		return nil, fmt.Errorf("%w: %s v%d: versions %d to %d are served", ErrLocalRequest, kmsg.NameForKey(key), version, h.versions.Min, h.versions.Max)
	}
	b.local.request(key)
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("broker: in-process %s handler panic: %v\n%s", kmsg.NameForKey(key), r, debug.Stack())
		}
		if err != nil {
			b.local.error(key)
		}
	}()
	out, err := b.Handle(ctx, &kafkaserver.Request{Key: key, Version: version, ClientID: &localClientID, Msg: req})
	if err != nil {
		return nil, fmt.Errorf("broker: in-process %s: %w", kmsg.NameForKey(key), err)
	}
	if out == nil {
		return nil, nil
	}
	if out.Release != nil {
		defer out.Release()
	}
	return out.Inline(key, version)
}

// localMetrics count the requests HandleLocal serves, by API. A child is
// made on an API's first request and found without a lock after.
type localMetrics struct {
	requests, errors *prometheus.CounterVec
	byKey, errsByKey sync.Map // int16 -> prometheus.Counter
}

func newLocalMetrics() *localMetrics {
	return &localMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "broker", Name: "local_requests_total",
			Help: "Kafka requests served in process (HandleLocal: the gateway of runnel dev), by API.",
		}, []string{"api_key", "api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "broker", Name: "local_request_errors_total",
			Help: "In-process Kafka requests whose handler failed or panicked, by API.",
		}, []string{"api_key", "api"}),
	}
}

func (m *localMetrics) request(key int16) { localChild(m.requests, &m.byKey, key).Inc() }

func (m *localMetrics) error(key int16) { localChild(m.errors, &m.errsByKey, key).Inc() }

// localChild returns vec's child for key, an API key HandleLocal serves.
func localChild(vec *prometheus.CounterVec, cache *sync.Map, key int16) prometheus.Counter {
	if c, ok := cache.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c, _ := cache.LoadOrStore(key, vec.WithLabelValues(strconv.Itoa(int(key)), kmsg.NameForKey(key)))
	return c.(prometheus.Counter)
}

func (m *localMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.errors}
}
