package faultharness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBrokerMetricSumsLabelSets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP x_total a counter
# TYPE x_total counter
x_total{topic="a",partition="0"} 2
x_total{topic="b"} 3.5
x_total_extra 100
x 7
y_total 9
`)
	}))
	defer srv.Close()
	b := &Broker{Process: &Process{Name: "broker-1"}, Metrics: strings.TrimPrefix(srv.URL, "http://")}
	for name, want := range map[string]float64{"x_total": 5.5, "x": 7, "y_total": 9, "absent": 0} {
		got, err := b.Metric(context.Background(), name)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
	srv.Close()
	if _, err := b.Metric(context.Background(), "x"); err == nil {
		t.Error("a broker that does not answer gave no error")
	}
}
