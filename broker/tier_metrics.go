package broker

import (
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/tiering"
)

// tierMetrics are the tiering counters of a broker: what its uploader sent,
// what waits, and every failed call to the object store, by operation.
type tierMetrics struct {
	uploadedBytes    prometheus.Counter
	uploadedSegments prometheus.Counter
	uploadLag        *prometheus.GaugeVec
	remoteErrors     *prometheus.CounterVec
}

func newTierMetrics() *tierMetrics {
	return &tierMetrics{
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "tier", Name: "uploaded_bytes_total",
			Help: "Bytes of segment objects (log, indexes, epochs, producer snapshot) this broker uploaded to the object store."}),
		uploadedSegments: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "tier", Name: "uploaded_segments_total",
			Help: "Segments this broker uploaded and recorded in the cluster metadata."}),
		uploadLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "runnel", Subsystem: "tier", Name: "upload_lag_segments",
			Help: "Rolled segments of a partition this broker leads that are not in the object store yet."}, []string{"topic", "partition"}),
		remoteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "runnel", Subsystem: "tier", Name: "remote_errors_total",
			Help: "Object store calls that failed, by operation (put, get, stat, list, delete); absent objects are not counted."}, []string{"op"}),
	}
}

func (m *tierMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.uploadedBytes, m.uploadedSegments, m.uploadLag, m.remoteErrors}
}

// setLag sets the upload lag of a partition; forgetLag drops its series
// when this broker stops uploading it.
func (m *tierMetrics) setLag(topic string, partition int32, n int) {
	m.uploadLag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(n))
}

func (m *tierMetrics) forgetLag(topic string, partition int32) {
	m.uploadLag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}

// countingStore counts the failed calls of a Store in remote_errors_total.
// An absent object (ErrNotFound), a taken key (ErrExists: create-only
// writes expect it) and a cancelled call are outcomes, not failures.
type countingStore struct {
	tiering.Store
	errs *prometheus.CounterVec
}

func (s countingStore) count(op string, err error) error {
	if err != nil && !errors.Is(err, tiering.ErrNotFound) && !errors.Is(err, tiering.ErrExists) &&
		!errors.Is(err, context.Canceled) {
		s.errs.WithLabelValues(op).Inc()
	}
	return err
}

func (s countingStore) Put(ctx context.Context, key string, body io.ReaderAt, size int64) (tiering.ObjectInfo, error) {
	info, err := s.Store.Put(ctx, key, body, size)
	return info, s.count("put", err)
}

func (s countingStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key, off, length)
	return rc, s.count("get", err)
}

func (s countingStore) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	info, err := s.Store.Stat(ctx, key)
	return info, s.count("stat", err)
}

func (s countingStore) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	return s.count("list", s.Store.List(ctx, prefix, fn))
}

func (s countingStore) Delete(ctx context.Context, key string) error {
	return s.count("delete", s.Store.Delete(ctx, key))
}
