package broker_test

import (
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterIDAgreesAndPersists checks that the three brokers of a cluster
// report one random cluster id (22 base64url characters, as Kafka's), in
// Metadata and DescribeCluster, and the same after a broker restarts.
func TestClusterIDAgreesAndPersists(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	ids := func() []string {
		var out []string
		for _, addr := range c.Addrs() {
			md := kmsg.NewPtrMetadataRequest()
			md.SetVersion(12)
			m := rawRequest(t, addr, md).(*kmsg.MetadataResponse)
			if m.ClusterID == nil {
				t.Fatalf("broker at %s reports no cluster id", addr)
			}
			dc := rawRequest(t, addr, kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
			if dc.ClusterID != *m.ClusterID {
				t.Fatalf("broker at %s: DescribeCluster says %q, Metadata %q", addr, dc.ClusterID, *m.ClusterID)
			}
			out = append(out, *m.ClusterID)
		}
		return out
	}
	first := ids()
	if err := metadata.ValidateClusterID(first[0]); err != nil {
		t.Fatal(err)
	}
	for i, id := range first {
		if id != first[0] {
			t.Fatalf("broker %d reports cluster id %q, broker 1 %q", i+1, id, first[0])
		}
	}
	c.Stop(1)
	c.Restart(1)
	c.WaitForBrokers(3)
	for i, id := range ids() {
		if id != first[0] {
			t.Fatalf("after broker 2 restarted, broker %d reports cluster id %q, was %q", i+1, id, first[0])
		}
	}
}
