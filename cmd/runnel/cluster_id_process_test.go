package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterIDAcrossProcesses starts three broker processes: they report
// one cluster id, a random one as Kafka's (22 base64url characters), and
// the same after one of them is killed with SIGKILL and started again.
func TestClusterIDAcrossProcesses(t *testing.T) {
	kafka, procs := startThreeVoters(t)
	clusterIDs := func() ([]string, error) {
		var out []string
		for _, addr := range kafka {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req := kmsg.NewPtrMetadataRequest()
			resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
			cancel()
			cl.Close()
			if err != nil {
				return nil, fmt.Errorf("metadata from %s: %w", addr, err)
			}
			if resp.ClusterID == nil || len(resp.Brokers) != 3 {
				return nil, fmt.Errorf("%s: cluster id %v, %d brokers", addr, resp.ClusterID, len(resp.Brokers))
			}
			out = append(out, *resp.ClusterID)
		}
		return out, nil
	}
	var first []string
	testwait.For(t, 60*time.Second, 200*time.Millisecond, func() (err error) {
		first, err = clusterIDs()
		return err
	})
	if err := metadata.ValidateClusterID(first[0]); err != nil || first[1] != first[0] || first[2] != first[0] {
		t.Fatalf("cluster ids %v: %v", first, err)
	}
	procs[1].kill()
	procs[1].start()
	testwait.For(t, 60*time.Second, 200*time.Millisecond, func() error {
		ids, err := clusterIDs()
		if err != nil {
			return err
		}
		for i, id := range ids {
			if id != first[0] {
				t.Fatalf("after broker 2 restarted, broker %d reports cluster id %q, was %q", i+1, id, first[0])
			}
		}
		return nil
	})
}
