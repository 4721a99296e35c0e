package producebench

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Against an address nothing listens on, both loops end with the client's
// error instead of a figure.
func TestLoopsReportErrors(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.DefaultProduceTopic("t"),
		kgo.RecordDeliveryTimeout(time.Second), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Flood(ctx, cl, 3, []byte("x")); err == nil {
		t.Error("Flood: no error without a broker")
	}
	if _, err := Paced(ctx, cl, 3, []byte("x"), 1000); err == nil {
		t.Error("Paced: no error without a broker")
	}
	if _, err := Paced(ctx, cl, 0, []byte("x"), 1000); err == nil {
		t.Error("Paced: no error for 0 records")
	}
}
