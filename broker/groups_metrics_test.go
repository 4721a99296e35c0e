package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestGroupLagMetrics commits an offset from outside a group and checks
// the lag gauges: committed, log end, and lag = produced - committed.
func TestGroupLagMetrics(t *testing.T) {
	c := brokertest.Start(t, 1, groupOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.CreateTopic("lagged", 1, nil)
	produceN(t, ctx, c.Client(), "lagged", 0, 100)
	adm := kadm.NewClient(c.Client())
	var offs kadm.Offsets
	offs.AddOffset("lagged", 0, 40, -1)
	resp, err := adm.CommitOffsets(ctx, "lag-group", offs)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	mfs, err := c.Metrics(0).Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"runnel_group_committed_offset": 40, "runnel_group_log_end_offset": 100, "runnel_group_lag_messages": 60}
	for _, mf := range mfs {
		w, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["group"] == "lag-group" && labels["topic"] == "lagged" && labels["partition"] == "0" {
				if got := m.GetGauge().GetValue(); got != w {
					t.Errorf("%s = %v, want %v", mf.GetName(), got, w)
				}
				delete(want, mf.GetName())
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("metrics missing: %v", want)
	}
	if got := counter(t, c.Metrics(0), "runnel_group_offset_commits_total"); got != 1 {
		t.Fatalf("runnel_group_offset_commits_total = %v, want 1", got)
	}
}
