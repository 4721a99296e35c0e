package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestElectLeaders drives Kafka's ElectLeaders through kadm on a
// three-broker cluster: preferred and unclean elections that are not
// needed, an unknown partition, a preferred replica that is fenced, and a
// preferred election that moves leadership back once it has rejoined the
// ISR.
func TestElectLeaders(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.WaitForBrokers(3)
	ctx := adminCtx(t)
	adm := c.Admin()
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "el"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	var top *metadata.Topic
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		var ok bool
		if top, ok = c.Nodes[0].Member.Image().Topic("el"); !ok {
			return errors.New("topic not in node 1's image")
		}
		return nil
	})
	pref := top.Partitions[0].Replicas[0]
	elect := func(how kadm.ElectLeadersHow, s kadm.TopicsSet) kadm.ElectLeadersResults {
		t.Helper()
		res, err := adm.ElectLeaders(adminCtx(t), how, s)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := func(what string, res kadm.ElectLeadersResults, topic string, p int32, wantErr error) {
		t.Helper()
		r, ok := res[topic][p]
		if !ok {
			t.Fatalf("%s: no result for %s/%d in %+v", what, topic, p, res)
		}
		if !errors.Is(r.Err, wantErr) && !(wantErr == nil && r.Err == nil) {
			t.Fatalf("%s: %s/%d: %v, want %v", what, topic, p, r.Err, wantErr)
		}
	}
	res := elect(kadm.ElectPreferredReplica, kadm.TopicsSet{"el": {0: {}, 5: {}}, "nope": {0: {}}})
	want("preferred, led by the preferred replica", res, "el", 0, kerr.ElectionNotNeeded)
	want("preferred, no such partition", res, "el", 5, kerr.UnknownTopicOrPartition)
	want("preferred, no such topic", res, "nope", 0, kerr.UnknownTopicOrPartition)
	want("unclean, with a leader", elect(kadm.ElectLiveReplica, kadm.TopicsSet{"el": {0: {}}}), "el", 0, kerr.ElectionNotNeeded)
	if res := elect(kadm.ElectPreferredReplica, nil); len(res) != 0 {
		t.Fatalf("all partitions, none needing an election: %+v", res)
	}

	// The preferred replica stops: it is fenced and leaves the ISR.
	c.Stop(int(pref - 1))
	observer := c.Nodes[int(pref)%3]
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		p, _ := observer.Member.Image().Partition(top.ID, 0)
		if p.Leader == pref || p.Leader == metadata.NoLeader || slices.Contains(p.ISR, pref) {
			return fmt.Errorf("partition still %+v", p)
		}
		return nil
	})
	adm = kadm.NewClient(c.Client())
	want("preferred replica down", elect(kadm.ElectPreferredReplica, kadm.TopicsSet{"el": {0: {}}}), "el", 0, kerr.PreferredLeaderNotAvailable)

	// Back: it catches up and its leader adds it to the ISR.
	c.Restart(int(pref - 1))
	c.WaitForBrokers(3)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if p, _ := observer.Member.Image().Partition(top.ID, 0); !slices.Contains(p.ISR, pref) {
			return fmt.Errorf("ISR %v without %d", p.ISR, pref)
		}
		return nil
	})
	res = elect(kadm.ElectPreferredReplica, nil)
	want("preferred election", res, "el", 0, nil)
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if p, _ := observer.Member.Image().Partition(top.ID, 0); p.Leader != pref {
			return fmt.Errorf("led by %d, not the preferred %d", p.Leader, pref)
		}
		return nil
	})
	// Election type 2 does not exist.
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 2
	resp, err := req.RequestWith(adminCtx(t), c.Client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("election type 2: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}
