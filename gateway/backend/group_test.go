package backend

import (
	"context"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/event"
)

type recordingHandler struct{ assigned chan []int32 }

func (h *recordingHandler) Assigned(ps []int32) { h.assigned <- ps }
func (h *recordingHandler) Revoked([]int32)     {}

// TestGroupMemberConfig: a member without a group, topic or handler, or
// with an unknown start kind, is refused before anything is sent.
func TestGroupMemberConfig(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	b := newBackend(t, c)
	h := &recordingHandler{}
	for _, cfg := range []GroupConsumerConfig{
		{Topic: "t", Handler: h},
		{Group: "g", Handler: h},
		{Group: "g", Topic: "t"},
		{Group: "g", Topic: "t", Handler: h, StartKind: 9},
	} {
		if m, err := b.JoinGroup(cfg); err == nil {
			m.Close()
			t.Errorf("%+v was accepted", cfg)
		}
	}
}

// TestGroupMemberPollAndCommit: a lone member gets every partition, reads
// from the start kind when nothing is committed, and a second member reads
// from its commit.
func TestGroupMemberPollAndCommit(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("gm", 1, nil)
	b := newBackend(t, c)
	if _, err := b.Produce(testCtx(t), "gm", AcksAll, values(5, 0, "v"), ""); err != nil {
		t.Fatal(err)
	}
	read := func(start int) []event.Record {
		h := &recordingHandler{assigned: make(chan []int32, 4)}
		m, err := b.JoinGroup(GroupConsumerConfig{Group: "gm", Topic: "gm", Handler: h, StartKind: start})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		select {
		case ps := <-h.assigned:
			if len(ps) != 1 || ps[0] != 0 {
				t.Fatalf("assigned %v", ps)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("never assigned")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		recs, err := m.Poll(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Commit(ctx, map[int32]int64{0: 3}); err != nil {
			t.Fatal(err)
		}
		return recs
	}
	if recs := read(GroupStartEarliest); len(recs) == 0 || recs[0].Offset != 0 || string(recs[0].Value) == "" {
		t.Fatalf("first member read %+v, want from offset 0", recs)
	}
	if recs := read(GroupStartEarliest); len(recs) == 0 || recs[0].Offset != 3 {
		t.Fatalf("second member read %+v, want from offset 3 after the commit at 3", recs)
	}
}
