package kafkaserver

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics holds the server's collectors. They exist even when no registerer
// is configured, so the hot path never checks for nil.
type metrics struct {
	requests      *prometheus.CounterVec
	errors        *prometheus.CounterVec
	bytesIn       prometheus.Counter
	bytesOut      prometheus.Counter
	sendfileBytes prometheus.Counter
	connections   prometheus.Gauge
	// saslAuths counts SASL authentications by configured mechanism and
	// result ("ok", "failed").
	saslAuths *prometheus.CounterVec

	mu        sync.Mutex
	byKey     map[int16]prometheus.Counter // cached requests children
	errsByKey map[int16]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "requests_total", Help: "Kafka protocol requests decoded, by API.",
		}, []string{"api_key", "api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "request_errors_total", Help: "Requests that closed their connection: handler errors or panics, bad responses, unsupported APIs (api_key -1: undecodable frames).",
		}, []string{"api_key", "api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "received_bytes_total", Help: "Request bytes read, size prefixes included.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "sent_bytes_total", Help: "Response bytes written, file regions included.",
		}),
		sendfileBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "sendfile_bytes_total", Help: "Response bytes sent from files with sendfile(2).",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "connections", Help: "Open client connections.",
		}),
		saslAuths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "runnel", Subsystem: "kafka",
			Name: "sasl_authentications_total", Help: "SASL authentications and re-authentications, by mechanism and result (ok, failed).",
		}, []string{"mechanism", "result"}),
		byKey:     map[int16]prometheus.Counter{},
		errsByKey: map[int16]prometheus.Counter{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.errors, m.bytesIn, m.bytesOut, m.sendfileBytes, m.connections, m.saslAuths} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) request(key int16) { m.child(m.requests, m.byKey, key).Inc() }

func (m *metrics) error(key int16) { m.child(m.errors, m.errsByKey, key).Inc() }

func (m *metrics) child(vec *prometheus.CounterVec, cache map[int16]prometheus.Counter, key int16) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := cache[key]; ok {
		return c
	}
	name := "unknown"
	if kmsg.RequestForKey(key) == nil {
		key = -1 // bound the label values a hostile client can create
	} else {
		name = kmsg.NameForKey(key)
	}
	c, ok := cache[key]
	if !ok {
		c = vec.WithLabelValues(strconv.Itoa(int(key)), name)
		cache[key] = c
	}
	return c
}
