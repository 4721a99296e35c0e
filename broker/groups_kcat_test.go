package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// TestKcatBalancedConsumer consumes with kcat's -G balanced consumer
// (librdkafka's group client) to the end, commits on exit, and a second
// run reads only what was produced since.
func TestKcatBalancedConsumer(t *testing.T) {
	c := brokertest.Start(t, 1, groupOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.CreateTopic("kg", 3, nil)
	addr := c.Addrs()[0]
	run := func() []string {
		out := kcat(t, nil, "-b", addr, "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\n", "kg")
		return strings.Fields(out)
	}
	produceN(t, ctx, c.Client(), "kg", 0, 100)
	if got := run(); len(got) != 100 {
		t.Fatalf("first kcat -G run read %d records, want 100", len(got))
	}
	produceN(t, ctx, c.Client(), "kg", 100, 50)
	got := run()
	if len(got) != 50 {
		t.Fatalf("second kcat -G run read %d records, want the 50 new ones", len(got))
	}
	for _, v := range got {
		var i int
		if _, err := fmt.Sscan(v, &i); err != nil || i < 100 {
			t.Fatalf("second run read %q: already committed by the first", v)
		}
	}
}
