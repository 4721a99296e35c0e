package wsapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/runnel-dev/runnel/gateway/fanout"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestThousandSockets has 1,000 sockets on one gateway subscribe to one
// topic; every socket must receive every event, in order.
func TestThousandSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets")
	}
	const sockets, events = 1000, 20
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("many", 1, nil)
	tok := "access_token=" + e.token(time.Hour)
	start := time.Now()

	clients := make([]*client, sockets)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, _, err := e.tryDial(websocket.DefaultDialer, tok, nil)
				if err == nil {
					err = c.c.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "topic": "many"})
				}
				var f frame
				if err == nil {
					if f, err = c.next(30 * time.Second); err == nil && f.Type != "subscribed" {
						err = fmt.Errorf("got %s", f.raw)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("socket %d: %w", i, err)
				}
				clients[i] = c
				mu.Unlock()
			}
		}()
	}
	for i := range sockets {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	t.Logf("%d sockets subscribed in %v", sockets, time.Since(start))
	if n := e.socketsOpen(); n != sockets {
		t.Fatalf("sockets_open = %d, want %d", n, sockets)
	}

	produced := time.Now()
	e.produce("many", 0, 0, events, 0)
	errs := make(chan error, sockets)
	for i, c := range clients {
		go func() {
			for want := range int64(events) {
				f, err := c.next(30 * time.Second)
				if err != nil {
					errs <- fmt.Errorf("socket %d: %w", i, err)
					return
				}
				if f.Type != "event" || f.Offset != want {
					errs <- fmt.Errorf("socket %d: got %s, want event at offset %d", i, f.raw, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range sockets {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d events reached %d sockets in %v", events, sockets, time.Since(produced))
	out := e.metric("runnel_gateway_ws_events_out_total").GetMetric()[0].GetCounter().GetValue()
	if out != sockets*events {
		t.Fatalf("events_out_total = %v, want %d", out, sockets*events)
	}
}

// TestSlowSubscriberDoesNotDelayOthers has one client stop reading for 5 s
// while events flow: the others get everything meanwhile, and the slow one
// gets everything, in order, when it reads again.
func TestSlowSubscriberDoesNotDelayOthers(t *testing.T) {
	const events = 3000
	e := newEnv(t, envOptions{
		limits:     Limits{MaxBufferedBytes: 64 << 10, WriteTimeout: 30 * time.Second},
		hub:        fanout.Options{MaxQueueEvents: 64, MaxQueueBytes: 64 << 10},
		sendBuffer: 64 << 10,
	})
	e.cluster.CreateTopic("slow", 1, nil)
	tok := "access_token=" + e.token(time.Hour)

	// The slow client's kernel buffer is small too, so that not reading
	// soon stops the server's writes.
	smallBuf := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	slow, _, err := e.tryDial(smallBuf, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	slow.subscribe("s", "slow", nil)
	fast := []*client{e.dial(tok, nil), e.dial(tok, nil)}
	for _, c := range fast {
		c.subscribe("s", "slow", nil)
	}

	e.pad = strings.Repeat("x", 1000)
	stalled := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(fast))
	for i, c := range fast {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := range int64(events) {
				f, err := c.next(30 * time.Second)
				if err == nil && (f.Type != "event" || f.Offset != want) {
					err = fmt.Errorf("got %s, want event at offset %d", f.raw, want)
				}
				if err != nil {
					errs <- fmt.Errorf("fast client %d: %w", i, err)
					return
				}
			}
		}()
	}
	for i := 0; i < events; i += 100 {
		e.produce("slow", 0, i, 100, 0)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fastDone := time.Since(stalled)
	t.Logf("fast clients got %d events in %v", events, fastDone)

	// The slow client is far behind: its subscription is paused, not fed.
	lag := e.metric("runnel_gateway_ws_subscriber_lag_events").GetMetric()[0].GetHistogram()
	behind := lag.GetSampleCount()
	for _, b := range lag.GetBucket() {
		if b.GetUpperBound() == 1000 {
			behind -= b.GetCumulativeCount()
		}
	}
	if behind != 1 {
		t.Fatalf("%d subscriptions more than 1000 events behind, want the slow one: %v", behind, lag)
	}
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if time.Since(stalled) < 5*time.Second {
			return errors.New("stalled for less than 5 s")
		}
		return nil
	})

	for want := range int64(events) {
		f, err := slow.next(30 * time.Second)
		if err != nil {
			t.Fatalf("slow client at offset %d: %v", want, err)
		}
		if f.Type != "event" || f.Offset != want {
			t.Fatalf("slow client: got %s, want event at offset %d", f.raw, want)
		}
	}
	if n := e.socketsOpen(); n != 3 {
		t.Fatalf("sockets_open = %d, want 3", n)
	}
}

// TestRetentionEndsSubscription has retention remove events a paused
// subscriber has not read: it gets what it can in order, then an
// offset_out_of_range error frame instead of a gap, and the socket lives.
func TestRetentionEndsSubscription(t *testing.T) {
	e := newEnv(t, envOptions{
		limits:     Limits{MaxBufferedBytes: 16 << 10},
		hub:        fanout.Options{MaxQueueEvents: 8, FetchMaxBytes: 16 << 10},
		sendBuffer: 64 << 10,
	})
	e.cluster.CreateTopic("ret", 1, nil)
	e.pad = strings.Repeat("x", 1000)
	const events, cut = 2000, 1500
	for i := 0; i < events; i += 250 {
		e.produce("ret", 0, i, 250, 0)
	}
	smallBuf := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	c, _, err := e.tryDial(smallBuf, "access_token="+e.token(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe("s", "ret", map[string]any{"from": "earliest"})
	// Wait until the subscriber is stuck well below the cut.
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		lag := e.metric("runnel_gateway_ws_subscriber_lag_events").GetMetric()[0].GetHistogram()
		if lag.GetSampleSum() < events-cut+100 {
			return fmt.Errorf("lag %v", lag.GetSampleSum())
		}
		return nil
	})
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "ret", Partition: 0, At: cut})
	resp, err := e.cluster.Admin().DeleteRecords(t.Context(), offs)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Error(); err != nil {
		t.Fatal(err)
	}

	next := int64(0)
	for {
		f, err := c.next(30 * time.Second)
		if err != nil {
			t.Fatalf("after offset %d: %v", next, err)
		}
		if f.Type == "error" {
			if f.ID != "s" || f.Code != "offset_out_of_range" || f.LogStart == nil || *f.LogStart != cut {
				t.Fatalf("error frame %s", f.raw)
			}
			break
		}
		if f.Type != "event" || f.Offset != next {
			t.Fatalf("got %s, want event at offset %d", f.raw, next)
		}
		next++
	}
	if next >= cut {
		t.Fatalf("got %d events before the error; the cut at %d came too late to test anything", next, cut)
	}
	// The subscription has ended; the socket has not.
	c.subscribe("s", "ret", map[string]any{"from": "earliest"})
	if f := c.expect("event", "s"); f.Offset != cut {
		t.Fatalf("first event %s, want offset %d", f.raw, cut)
	}
}
