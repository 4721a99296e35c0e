package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// groupSocket is a WebSocket group subscriber: a reader goroutine keeps
// its latest assignment and the events it got, checking each against the
// assignment in force when it arrived.
type groupSocket struct {
	t    *testing.T
	name string
	ws   *websocket.Conn

	mu       sync.Mutex
	parts    []int32
	events   map[int32][]int64 // offsets per partition, in arrival order
	frames   chan map[string]any
	stranger string // an event of a partition not assigned, if any
	control  int    // frames but events
	batches  int    // events frames (a subscription with "batch")
	mismatch error  // the first frame openapi.yaml refuses
	closed   bool
}

// send sends a client frame, checked against the spec.
func (s *groupSocket) send(v any) { wsSend(s.t, s.ws, v) }

// checkFrames reports the first frame received that does not match the
// spec (the reader checks every frame, events included).
func (s *groupSocket) checkFrames() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mismatch != nil {
		s.t.Errorf("%s: %v", s.name, s.mismatch)
	}
	if s.control == 0 {
		s.t.Errorf("%s got no subscribed frame", s.name)
	}
}

// dialGroup opens a socket that subscribes to topic in group, with
// "batch" when batch is set.
func dialGroup(t *testing.T, name string, g *Gateway, tok, group, topic string, batch bool) *groupSocket {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &groupSocket{t: t, name: name, ws: ws, events: map[int32][]int64{}, frames: make(chan map[string]any, 64)}
	t.Cleanup(func() { ws.Close() })
	s.send(map[string]any{"type": "subscribe", "id": "s", "topic": topic, "group": group, "from": "earliest", "batch": batch})
	go s.read()
	return s
}

func (s *groupSocket) read() {
	for {
		var f map[string]any
		_, data, err := s.ws.ReadMessage()
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err != nil {
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			return
		}
		mismatch := openapitest.ServerFrameError(data)
		s.mu.Lock()
		if mismatch != nil && s.mismatch == nil {
			s.mismatch = mismatch
		}
		if f["type"] != "event" && f["type"] != "events" {
			s.control++
		}
		switch f["type"] {
		case "subscribed":
			s.parts = s.parts[:0]
			for _, p := range f["partitions"].([]any) {
				s.parts = append(s.parts, int32(p.(float64)))
			}
		case "event":
			s.eventLocked(f)
		case "events":
			s.batches++
			for _, e := range f["events"].([]any) {
				s.eventLocked(e.(map[string]any))
			}
		default:
			select {
			case s.frames <- f:
			default:
			}
		}
		s.mu.Unlock()
	}
}

func (s *groupSocket) assigned() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.parts)
}

// kafkaMember is a franz-go consumer in the group, tracking the same.
type kafkaMember struct {
	mu     sync.Mutex
	parts  []int32
	events map[int32][]int64
}

func (k *kafkaMember) assigned() []int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.parts)
}

// partitionsSplit fails unless the members' assignments are disjoint and
// cover partitions 0..n-1.
func partitionsSplit(n int32, members map[string][]int32) error {
	owner := map[int32]string{}
	for name, ps := range members {
		for _, p := range ps {
			if o, ok := owner[p]; ok {
				return fmt.Errorf("partition %d owned by %s and %s: %v", p, o, name, members)
			}
			owner[p] = name
		}
	}
	if int32(len(owner)) != n {
		return fmt.Errorf("%d of %d partitions assigned: %v", len(owner), n, members)
	}
	return nil
}

// TestWebSocketGroupWithKafkaClient: two WebSocket sockets on two gateways
// and a franz-go consumer share a group's partitions, each owned by one
// member at a time; a socket's commit holds, and when that socket dies
// its partitions go to the others within the session timeout, from the
// committed offsets.
// eventLocked records an event (or an item of an events frame).
func (s *groupSocket) eventLocked(f map[string]any) {
	p, off := int32(f["partition"].(float64)), int64(f["offset"].(float64))
	if !slices.Contains(s.parts, p) && s.stranger == "" {
		s.stranger = fmt.Sprintf("%s got offset %d of partition %d while assigned %v", s.name, off, p, s.parts)
	}
	s.events[p] = append(s.events[p], off)
}

func TestWebSocketGroupWithKafkaClient(t *testing.T) {
	const parts = 6
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("orders", parts, nil)
	g1, g2 := startGateway(t, c), startGateway(t, c)
	tok := adminToken(t)

	a := dialGroup(t, "socket-a", g1, tok, "mix", "orders", false)
	b := dialGroup(t, "socket-b", g2, tok, "mix", "orders", true) // batched: revocations drop its queued events alike
	k := &kafkaMember{events: map[int32][]int64{}}
	kcl := c.Client(
		kgo.ConsumerGroup("mix"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			k.mu.Lock()
			k.parts = append(k.parts, m["orders"]...)
			k.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			k.mu.Lock()
			k.parts = slices.DeleteFunc(k.parts, func(p int32) bool { return slices.Contains(m["orders"], p) })
			k.mu.Unlock()
		}),
	)
	pollCtx, stopPoll := context.WithCancel(context.Background())
	var polled sync.WaitGroup
	polled.Add(1)
	go func() {
		defer polled.Done()
		for pollCtx.Err() == nil {
			kcl.PollFetches(pollCtx).EachRecord(func(r *kgo.Record) {
				k.mu.Lock()
				k.events[r.Partition] = append(k.events[r.Partition], r.Offset)
				k.mu.Unlock()
			})
		}
	}()
	defer func() { stopPoll(); polled.Wait(); kcl.Close() }()

	split := func(members ...string) error {
		m := map[string][]int32{}
		for _, n := range members {
			switch n {
			case "a":
				m["socket-a"] = a.assigned()
			case "b":
				m["socket-b"] = b.assigned()
			case "k":
				m["kafka"] = k.assigned()
			}
		}
		for _, ps := range m {
			if len(ps) == 0 {
				return fmt.Errorf("a member has no partitions yet: %v", m)
			}
		}
		return partitionsSplit(parts, m)
	}
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error { return split("a", "b", "k") })

	// Ten events per partition; each reaches exactly its owner.
	produce := func(from int) {
		var recs []*kgo.Record
		for p := range int32(parts) {
			for i := range 10 {
				recs = append(recs, &kgo.Record{Topic: "orders", Partition: p, Value: []byte(strconv.Itoa(from + i))})
			}
		}
		pc := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
		defer pc.Close()
		if err := pc.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0)
	got := func(p int32) []int64 {
		var all []int64
		for _, s := range []*groupSocket{a, b} {
			s.mu.Lock()
			all = append(all, s.events[p]...)
			s.mu.Unlock()
		}
		k.mu.Lock()
		all = append(all, k.events[p]...)
		k.mu.Unlock()
		return all
	}
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		for p := range int32(parts) {
			if n := len(got(p)); n != 10 {
				return fmt.Errorf("partition %d: %d events, want 10", p, n)
			}
		}
		return nil
	})
	for _, s := range []*groupSocket{a, b} {
		s.mu.Lock()
		if s.stranger != "" {
			t.Error(s.stranger)
		}
		s.mu.Unlock()
	}

	// Socket a commits everything it got, then dies without a word.
	aParts := a.assigned()
	commit := map[string]int64{}
	for _, p := range aParts {
		commit[strconv.Itoa(int(p))] = 10
	}
	a.send(map[string]any{"type": "commit", "id": "s", "offsets": commit})
	select {
	case f := <-a.frames:
		if f["type"] != "committed" {
			t.Fatalf("commit answered %v", f)
		}
		if want, _ := json.Marshal(commit); fmt.Sprint(f["offsets"]) != fmt.Sprint(jsonMap(want)) {
			t.Fatalf("committed %v, want %s", f["offsets"], want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the commit")
	}
	a.ws.NetConn().Close()
	died := time.Now()
	// Well within the gateway members' session timeout (kgo's default,
	// 45 s): the dead socket's member leaves the group at once.
	testwait.For(t, 20*time.Second, 50*time.Millisecond, func() error { return split("b", "k") })
	t.Logf("socket a's partitions %v handed over %v after it died", aParts, time.Since(died))

	// The new owners read a's partitions from its commit: offsets 10 on,
	// nothing before again.
	before := map[int32]int{}
	for p := range int32(parts) {
		before[p] = len(got(p))
	}
	produce(10)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		for p := range int32(parts) {
			all := got(p)
			if len(all) < 20 {
				return fmt.Errorf("partition %d: %d events, want at least 20", p, len(all))
			}
			if slices.Contains(aParts, p) {
				for _, off := range all[before[p]:] {
					if off < 10 {
						t.Fatalf("partition %d, committed at 10 by socket a, read offset %d again: %v", p, off, all)
					}
				}
			}
		}
		return nil
	})
	b.mu.Lock()
	if b.stranger != "" {
		t.Error(b.stranger)
	}
	b.mu.Unlock()
	a.checkFrames()
	b.checkFrames()
}

func jsonMap(b []byte) map[string]any {
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// TestWebSocketGroupResumesAfterCommit: a socket commits, closes; a new
// socket in the same group starts after the commit, not at "from".
func TestWebSocketGroupResumesAfterCommit(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("log", 1, nil)
	g := startGateway(t, c)
	tok := adminToken(t)
	pc := c.Client()
	defer pc.Close()
	for i := range 10 {
		if err := pc.ProduceSync(context.Background(), &kgo.Record{Topic: "log", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	s := dialGroup(t, "first", g, tok, "solo", "log", true)
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.events[0]) != 10 {
			return fmt.Errorf("%d events of 10", len(s.events[0]))
		}
		return nil
	})
	s.mu.Lock()
	batches := s.batches
	s.mu.Unlock()
	if batches == 0 {
		t.Errorf("a batched group subscription catching up on 10 events got no events frame")
	}
	s.send(map[string]any{"type": "commit", "id": "s", "offsets": map[string]int64{"0": 6}})
	select {
	case f := <-s.frames:
		if f["type"] != "committed" {
			t.Fatalf("commit answered %v", f)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the commit")
	}
	// A commit of a partition the socket does not own is refused.
	s.send(map[string]any{"type": "commit", "id": "s", "offsets": map[string]int64{"3": 1}})
	if f := <-s.frames; f["type"] != "error" || f["code"] != "conflict" || f["op"] != "commit" {
		t.Fatalf("commit of an unassigned partition answered %v, want a conflict with op commit", f)
	}
	s.ws.Close()
	// The closed socket's member left at once, long before the session
	// timeout (45 s) would have dropped it.
	adm := c.Admin()
	testwait.For(t, 20*time.Second, 50*time.Millisecond, func() error {
		gs, err := adm.DescribeGroups(context.Background(), "solo")
		if err != nil {
			return err
		}
		if n := len(gs["solo"].Members); n != 0 {
			return fmt.Errorf("group solo still has %d members", n)
		}
		return nil
	})

	again := dialGroup(t, "again", g, tok, "solo", "log", false)
	testwait.For(t, 60*time.Second, 50*time.Millisecond, func() error {
		again.mu.Lock()
		defer again.mu.Unlock()
		if len(again.events[0]) != 4 {
			return fmt.Errorf("%v after the commit at 6", again.events[0])
		}
		if again.events[0][0] != 6 {
			t.Fatalf("resumed at %d, committed 6", again.events[0][0])
		}
		return nil
	})
	s.checkFrames()
	again.checkFrames()
}

// TestWebSocketGroupRefusedAssignor: a group whose Kafka members offer only
// the range assignor refuses the socket's member (cooperative-sticky); the
// socket gets a conflict error frame that ends the subscription.
func TestWebSocketGroupRefusedAssignor(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("ranged", 2, nil)
	g := startGateway(t, c)
	assigned := make(chan struct{}, 1)
	kcl := c.Client(kgo.ConsumerGroup("ranged"), kgo.ConsumeTopics("ranged"), kgo.Balancers(kgo.RangeBalancer()),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}))
	defer kcl.Close()
	pollCtx, stopPoll := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for pollCtx.Err() == nil {
			kcl.PollFetches(pollCtx)
		}
	}()
	defer func() { stopPoll(); <-done }()
	select {
	case <-assigned:
	case <-time.After(60 * time.Second):
		t.Fatal("the Kafka consumer never joined")
	}
	s := dialGroup(t, "refused", g, adminToken(t), "ranged", "ranged", false)
	select {
	case f := <-s.frames:
		if f["type"] != "error" || f["code"] != "conflict" || f["id"] != "s" {
			t.Fatalf("want a conflict error frame, got %v", f)
		}
		t.Logf("refused: %v", f["message"])
	case <-time.After(60 * time.Second):
		t.Fatal("no error frame")
	}
	// The subscription is gone: its id is free again.
	s.send(map[string]any{"type": "unsubscribe", "id": "s"})
	if f := <-s.frames; f["type"] != "error" || f["code"] != "subscription_not_found" {
		t.Fatalf("unsubscribe after the refusal answered %v", f)
	}
	s.checkFrames()
}
