package broker_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminOnlyAPIs checks that the voter APIs (AddRaftVoter,
// RemoveRaftVoter) are listed and served on the admin listener only: the
// client listener leaves them out of ApiVersions and closes a connection
// that sends one, and a node without an admin listener has no way to them.
// The admin listener serves the client APIs too.
func TestAdminOnlyAPIs(t *testing.T) {
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), KafkaListen: "127.0.0.1:0", RaftListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		Voters: map[uint64]string{1: "127.0.0.1:0"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if node.AdminAddr() == "" || node.AdminAddr() == node.KafkaAddr() {
		t.Fatalf("admin address %q (kafka %q)", node.AdminAddr(), node.KafkaAddr())
	}
	voterAPIs := func(addr string) []int16 {
		var out []int16
		for _, k := range rawRequest(t, addr, kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse).ApiKeys {
			if k.ApiKey == int16(kmsg.AddRaftVoter) || k.ApiKey == int16(kmsg.RemoveRaftVoter) {
				out = append(out, k.ApiKey)
			}
		}
		return out
	}
	if got := voterAPIs(node.KafkaAddr()); len(got) != 0 {
		t.Fatalf("the client listener lists API keys %v", got)
	}
	if got := voterAPIs(node.AdminAddr()); len(got) != 2 {
		t.Fatalf("the admin listener lists voter API keys %v, want 80 and 81", got)
	}
	remove := kmsg.NewPtrRemoveRaftVoterRequest()
	remove.VoterID = 7
	if resp, err := rawExchange(t, node.KafkaAddr(), remove); err == nil {
		t.Fatalf("the client listener answered RemoveRaftVoter: %+v", resp)
	}
	resp := rawRequest(t, node.AdminAddr(), remove).(*kmsg.RemoveRaftVoterResponse)
	if resp.ErrorCode == 0 {
		t.Fatal("removing voter 7, which is no member, succeeded")
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		if m := rawRequest(t, node.AdminAddr(), md).(*kmsg.MetadataResponse); len(m.Brokers) != 1 || m.Brokers[0].Port == 0 {
			return fmt.Errorf("metadata on the admin listener: %+v", m.Brokers)
		}
		return nil
	})
}
