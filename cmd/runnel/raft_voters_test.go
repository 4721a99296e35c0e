package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAddAndRemoveRaftVoters grows a one-voter cluster to three voters with
// the Kafka AddRaftVoter admin call on the brokers' admin listeners
// (--admin-addr), kills the original voter, checks that the two added voters
// carry on committing metadata, and removes the dead voter with
// RemoveRaftVoter. The client listener neither lists nor serves them.
func TestAddAndRemoveRaftVoters(t *testing.T) {
	var kafka, raft, admin []string
	for i := 0; i < 3; i++ {
		kafka, raft, admin = append(kafka, freePort(t)), append(raft, freePort(t)), append(admin, freePort(t))
	}
	var procs []*brokerProc
	for i := 0; i < 3; i++ {
		// Nodes 2 and 3 are not in --voters: they start as learners.
		procs = append(procs, startBroker(t, kafka[i], "--id", strconv.Itoa(i+1), "--raft", raft[i], "--voters", "1@"+raft[0],
			"--admin-addr", admin[i], "--data-dir", filepath.Join(t.TempDir(), "n"+strconv.Itoa(i+1))))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBroker(t, ctx, cl, 1)
	checkNotOnClientListener(t, ctx, cl)
	adm1 := adminConn(t, admin[0])
	for _, id := range []int32{2, 3} {
		host, port, _ := net.SplitHostPort(raft[id-1])
		p, _ := strconv.Atoi(port)
		req := kmsg.NewPtrAddRaftVoterRequest()
		req.VoterID, req.TimeoutMillis = id, 20000
		l := kmsg.NewAddRaftVoterRequestListener()
		l.Name, l.Host, l.Port = "CONTROLLER", host, uint16(p)
		req.Listeners = append(req.Listeners, l)
		resp, err := req.RequestWith(ctx, adm1)
		if err != nil {
			t.Fatalf("add voter %d: %v", id, err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("add voter %d: error %d %v", id, resp.ErrorCode, *resp.ErrorMessage)
		}
	}
	bad := kmsg.NewPtrAddRaftVoterRequest()
	bad.VoterID = 9
	if resp, err := bad.RequestWith(ctx, adm1); err != nil || resp.ErrorCode != 42 { // INVALID_REQUEST
		t.Fatalf("add voter without a listener: %v %+v", err, resp)
	}

	// With voters {1, 2, 3}, nodes 2 and 3 are a quorum without node 1.
	procs[0].kill()
	cl2, err := kgo.NewClient(kgo.SeedBrokers(kafka[1], kafka[2]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs[1:] {
				t.Logf("node %d log:\n%s", i+2, p.stderr.String())
			}
		}
	})
	createTopic(t, cl2, "after-kill", 2)
	waitForBroker(t, ctx, cl2, 2)

	rm := kmsg.NewPtrRemoveRaftVoterRequest()
	rm.VoterID = 1
	resp, err := rm.RequestWith(ctx, adminConn(t, admin[1]))
	if err != nil {
		t.Fatalf("remove voter 1: %v", err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("remove voter 1: error %d %v", resp.ErrorCode, *resp.ErrorMessage)
	}
	createTopic(t, cl2, "after-remove", 1)
}

// adminConn returns a connection to a broker's admin listener: a client
// seeded with it alone, whose seed broker takes the requests (kgo would
// route others to the client addresses Metadata advertises).
func adminConn(t *testing.T, addr string) *kgo.Broker {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl.SeedBrokers()[0]
}

// checkNotOnClientListener checks that broker 1's client listener does not
// list the voter APIs in ApiVersions and does not serve AddRaftVoter.
func checkNotOnClientListener(t *testing.T, ctx context.Context, cl *kgo.Client) {
	t.Helper()
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range av.ApiKeys {
		if k.ApiKey == int16(kmsg.AddRaftVoter) || k.ApiKey == int16(kmsg.RemoveRaftVoter) {
			t.Fatalf("the client listener lists %s", kmsg.NameForKey(k.ApiKey))
		}
	}
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.VoterID = 2
	if resp, err := req.RequestWith(ctx, cl.Broker(1)); err == nil {
		t.Fatalf("the client listener served AddRaftVoter: %+v", resp)
	}
}

// waitForBroker polls metadata until broker id is listed, so that
// client.Broker(id) can reach it.
func waitForBroker(t *testing.T, ctx context.Context, cl *kgo.Client, id int32) {
	t.Helper()
	adm := kadm.NewClient(cl)
	for {
		if md, err := adm.BrokerMetadata(ctx); err == nil {
			for _, b := range md.Brokers {
				if b.NodeID == id {
					return
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("broker %d never appeared in metadata", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
