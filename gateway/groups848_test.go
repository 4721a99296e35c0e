package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestConsumerGroup848OverREST: a KIP-848 consumer group (franz-go with
// the server-side balancer) is listed with type "consumer" and described
// with its state, assignor, members and their partitions, committed
// offsets and lag (an assigned partition without a commit too); a reset
// is refused while it has members.
func TestConsumerGroup848OverREST(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{Groups: group.Config{ConsumerSessionTimeout: 6 * time.Second, ConsumerHeartbeatInterval: 200 * time.Millisecond}})
	c.CreateTopic("parcels", 4, nil)
	gw := startGateway(t, c)
	api := &groupClient{t: t, base: gw.URL(), tok: adminToken(t), hc: &http.Client{Transport: openapitest.Transport(t, nil), Timeout: 30 * time.Second}}
	// Two events on each of partitions 0-2; partition 3 stays empty, so
	// nothing is ever committed for it.
	events := make([]string, 6)
	for i := range events {
		events[i] = fmt.Sprintf(`{"value":%d,"partition":%d}`, i, i%3)
	}
	api.want(200, "POST", "/v1/topics/parcels/events", `{"events":[`+strings.Join(events, ",")+`]}`, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var clients []*kgo.Client
	for _, name := range []string{"ship-a", "ship-b"} {
		cl := c.Client(kgo.ConsumerGroup("shipping"), kgo.ConsumeTopics("parcels"), kgo.ServerSideBalancer(), kgo.ClientID(name),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		defer cl.Close()
		clients = append(clients, cl)
	}
	// Both members poll until the group has split the four partitions;
	// each commits what it read.
	type view struct {
		groupView
		Type     string
		Protocol string
	}
	var g view
	testwait.For(t, 40*time.Second, 100*time.Millisecond, func() error {
		for _, cl := range clients {
			pctx, pcancel := context.WithTimeout(ctx, 50*time.Millisecond)
			cl.PollFetches(pctx)
			pcancel()
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				return err
			}
		}
		g = view{}
		api.want(200, "GET", "/v1/groups/shipping", "", &g)
		if g.Type != "consumer" || g.State != "Stable" || len(g.Members) != 2 || g.TotalLag != 0 || len(g.Offsets) != 4 {
			return fmt.Errorf("group %+v", g)
		}
		return nil
	})
	if g.Protocol != "uniform" {
		t.Errorf("assignor %q, want uniform", g.Protocol)
	}
	var names []string
	parts := map[int32]bool{}
	for _, m := range g.Members {
		names = append(names, m.ClientID)
		if len(m.Assignment) != 1 || m.Assignment[0].Topic != "parcels" || len(m.Assignment[0].Partitions) != 2 || m.ClientHost == "" {
			t.Fatalf("member %+v, want two partitions of parcels", m)
		}
		for _, p := range m.Assignment[0].Partitions {
			parts[p] = true
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"ship-a", "ship-b"}) || len(parts) != 4 {
		t.Fatalf("members %v own %v, want ship-a and ship-b owning all four partitions", names, parts)
	}
	for i, o := range g.Offsets {
		switch {
		case o.Partition != int32(i):
			t.Fatalf("offsets %+v, want partitions 0-3 in order", g.Offsets)
		case o.MemberID == nil:
			t.Fatalf("partition %d has no member: %+v", o.Partition, o)
		case i < 3 && (o.Committed == nil || *o.Committed != 2 || o.LogEnd != 2 || o.Lag != 0):
			t.Fatalf("partition %d: %+v, want committed 2 of 2", o.Partition, o)
		case i == 3 && (o.Committed != nil || o.LogEnd != 0 || o.Lag != 0):
			t.Fatalf("partition 3 (assigned, nothing committed): %+v", o)
		}
	}

	var list struct {
		Groups []struct{ Name, Type, State string }
	}
	api.want(200, "GET", "/v1/groups", "", &list)
	if len(list.Groups) != 1 || list.Groups[0].Name != "shipping" || list.Groups[0].Type != "consumer" || list.Groups[0].State != "Stable" {
		t.Fatalf("list %+v", list)
	}
	if b := api.want(409, "POST", "/v1/groups/shipping/offsets", `{"topic":"parcels","to":"earliest"}`, nil); !strings.Contains(b, "group_not_empty") {
		t.Fatalf("reset with live members: %s", b)
	}
}
