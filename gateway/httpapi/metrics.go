package httpapi

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the REST API's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	eventsIn prometheus.Counter
	// slowBodies counts bodies cut for arriving too slowly;
	// bodyBudgetRefused requests refused for want of body memory.
	slowBodies        prometheus.Counter
	bodyBudgetRefused prometheus.Counter

	// The label lookups cost more than the increments; keep the children.
	mu       sync.RWMutex
	counters map[requestKey]prometheus.Counter
	timers   map[requestKey]prometheus.Observer
}

type requestKey struct {
	route, method string
	status        int
}

// newMetrics registers the metrics; bodyBytes reports the body memory in
// use.
func newMetrics(reg prometheus.Registerer, bodyBytes func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runnel_gateway_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runnel_gateway_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and method, from routing to the handler's return.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		eventsIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_gateway_events_in_total",
			Help: "Events accepted by the cluster from REST produce requests.",
		}),
		slowBodies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_gateway_http_slow_bodies_total",
			Help: "Request bodies cut off for arriving slower than the minimum rate or not within the read timeout (408).",
		}),
		bodyBudgetRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "runnel_gateway_http_body_budget_refusals_total",
			Help: "Requests refused with 503 because request bodies in flight held all the memory allowed for them.",
		}),
		counters: map[requestKey]prometheus.Counter{},
		timers:   map[requestKey]prometheus.Observer{},
	}
	bodies := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "runnel_gateway_http_body_bytes_in_flight",
		Help: "Memory held by request bodies being received or served, out of the gateway's body budget.",
	}, bodyBytes)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.eventsIn, m.slowBodies, m.bodyBudgetRefused, bodies} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts one request.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	k := requestKey{route, method, status}
	m.mu.RLock()
	c, ok := m.counters[k]
	t, ok2 := m.timers[requestKey{route: route, method: method}]
	m.mu.RUnlock()
	if !ok || !ok2 {
		// fiber's method strings are constants, but route and method
		// may alias request memory for unmatched requests: copy.
		route, method = strings.Clone(route), strings.Clone(method)
		c = m.requests.WithLabelValues(route, method, strconv.Itoa(status))
		t = m.duration.WithLabelValues(route, method)
		m.mu.Lock()
		m.counters[requestKey{route, method, status}] = c
		m.timers[requestKey{route: route, method: method}] = t
		m.mu.Unlock()
	}
	c.Inc()
	t.Observe(d.Seconds())
}

// metricsHandler serves the Gatherer in the Prometheus text format.
func (s *Server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
}
