package kafkaserver

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestFranzGoClient(t *testing.T) {
	_, addr := startServer(t, Config{Handler: basicHandler(nil)})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].Host != "127.0.0.1" || len(resp.Topics) != 0 {
		t.Fatalf("metadata: brokers %+v topics %d", resp.Brokers, len(resp.Topics))
	}
	// kgo negotiated a version from our ApiVersions answer: the highest
	// both sides know, which the handler saw.
	if v := resp.GetVersion(); v != testAPIs[3].Max {
		t.Fatalf("kgo used Metadata v%d, want v%d", v, testAPIs[3].Max)
	}
}

func TestApiVersions(t *testing.T) {
	_, addr := startServer(t, Config{Handler: basicHandler(nil)})
	want := []kmsg.ApiVersionsResponseApiKey{
		{ApiKey: 0, MinVersion: 3, MaxVersion: 9},
		{ApiKey: 1, MinVersion: 4, MaxVersion: 16},
		{ApiKey: 3, MinVersion: 0, MaxVersion: 12},
		{ApiKey: 18, MinVersion: 0, MaxVersion: kmsg.NewPtrApiVersionsRequest().MaxVersion()},
	}
	for _, v := range []int16{0, 1, 2, 3, 4, 5} {
		c := dialRaw(t, "tcp", addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "runnel-test", "1.0"
		resp := c.recv(req, c.send(req)).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error code %d", v, resp.ErrorCode)
		}
		if !slices.EqualFunc(resp.ApiKeys, want, sameAPIKey) {
			t.Fatalf("v%d: keys %+v, want %+v", v, resp.ApiKeys, want)
		}
		// What franz-go negotiates from this answer.
		vs := kversion.FromApiVersionsResponse(resp)
		if hi, ok := vs.LookupMaxKeyVersion(1); !ok || hi != 16 {
			t.Fatalf("v%d: kversion sees Fetch max %d (%v)", v, hi, ok)
		}
		if _, ok := vs.LookupMaxKeyVersion(2); ok {
			t.Fatalf("v%d: kversion sees ListOffsets, which the table lacks", v)
		}
	}
}

func sameAPIKey(a, b kmsg.ApiVersionsResponseApiKey) bool {
	return a.ApiKey == b.ApiKey && a.MinVersion == b.MinVersion && a.MaxVersion == b.MaxVersion
}

// An ApiVersions version the server does not know gets a v0 answer with
// UNSUPPORTED_VERSION and the table, so the client can downgrade.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	_, addr := startServer(t, Config{Handler: basicHandler(nil)})
	c := dialRaw(t, "tcp", addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(127)
	corr := c.send(req)
	v0 := kmsg.NewPtrApiVersionsRequest() // decode the answer as v0
	resp := c.recv(v0, corr).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || resp.ErrorCode != 35 {
		t.Fatalf("error code %d, want 35", resp.ErrorCode)
	}
	if len(resp.ApiKeys) != 4 {
		t.Fatalf("keys %+v", resp.ApiKeys)
	}
	// The connection stays usable: the client retries at a version it has.
	req.SetVersion(3)
	corr = c.send(req)
	if resp := c.recv(req, corr).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("retry error code %d", resp.ErrorCode)
	}
}

// Acks=0 produce gets no response; the next response still arrives in order.
func TestNoResponse(t *testing.T) {
	_, addr := startServer(t, Config{Handler: basicHandler(nil)})
	c := dialRaw(t, "tcp", addr)
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(7)
	p.Acks = 0
	c.send(p)
	m := kmsg.NewPtrMetadataRequest()
	m.SetVersion(9)
	corr := c.send(m)
	c.recv(m, corr)
}

func TestBadFrames(t *testing.T) {
	le32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(9)
	metadata.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("some-topic")}}
	full := kmsg.NewRequestFormatter(kmsg.FormatterClientID("x")).AppendRequest(nil, metadata, 1)
	truncated := append([]byte(nil), full[:len(full)-6]...)
	binary.BigEndian.PutUint32(truncated, uint32(len(truncated)-4))

	unsupported := kmsg.NewPtrMetadataRequest()
	unsupported.SetVersion(13) // kmsg knows it, the table stops at 12
	fetchOld := kmsg.NewPtrFetchRequest()
	fetchOld.SetVersion(3) // below the table's minimum

	cases := map[string][]byte{
		"2GiB size":           le32(1 << 31),
		"max int32 size":      le32(0x7fffffff),
		"over max":            le32(1<<20 + 1),
		"negative size":       le32(0xfffffff0),
		"short header":        append(le32(5), 0, 3, 0, 9, 0),
		"unknown key":         append(le32(10), 0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"unsupported version": kmsg.NewRequestFormatter().AppendRequest(nil, unsupported, 1),
		"below min version":   kmsg.NewRequestFormatter().AppendRequest(nil, fetchOld, 1),
		"truncated body":      truncated,
		"garbage body":        append(le32(14), 0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0x7f, 0xff, 0xff),
		"eof mid frame":       full[:len(full)-3],
	}
	reg := prometheus.NewRegistry()
	_, addr := startServer(t, Config{Handler: basicHandler(nil), MaxRequestBytes: 1 << 20, Metrics: reg})
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c := dialRaw(t, "tcp", addr)
			c.sendRaw(frame)
			if name == "eof mid frame" {
				c.conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			c.expectClosed()
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
				t.Fatalf("allocated %d bytes for a bad frame", grew)
			}
		})
	}
	// A good request still works on a new connection.
	c := dialRaw(t, "tcp", addr)
	c.recv(metadata, c.send(metadata))
	if n := counterSum(t, reg, "runnel_kafka_request_errors_total"); n < float64(len(cases)) {
		t.Fatalf("%v request errors counted, want >= %d", n, len(cases))
	}
}

// A frame declared within the default limit costs only what arrives.
func TestLargeFrameNeverSent(t *testing.T) {
	le32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	_, addr := startServer(t, Config{Handler: basicHandler(nil)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := dialRaw(t, "tcp", addr)
	c.sendRaw(append(le32(99<<20), 0, 3, 0, 9, 0, 0, 0, 1))
	c.conn.(interface{ CloseWrite() error }).CloseWrite()
	c.expectClosed()
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("allocated %d bytes for a 99 MiB frame that never came", grew)
	}

}

// A handler panic closes only its connection, after earlier responses.
func TestHandlerPanicAndError(t *testing.T) {
	_, addr := startServer(t, Config{Handler: basicHandler(func(ctx context.Context, req *Request) (*Response, error, bool) {
		if m, ok := req.Msg.(*kmsg.MetadataRequest); ok && len(m.Topics) == 1 {
			switch *m.Topics[0].Topic {
			case "panic":
				panic("boom")
			case "error":
				return nil, errors.New("handler failed"), true
			case "wrong-key":
				return &Response{Msg: kmsg.NewPtrFetchResponse()}, nil, true
			}
		}
		return nil, nil, false
	})})
	other := dialRaw(t, "tcp", addr)
	ok := kmsg.NewPtrMetadataRequest()
	ok.SetVersion(12)
	for _, topic := range []string{"panic", "error", "wrong-key"} {
		c := dialRaw(t, "tcp", addr)
		bad := kmsg.NewPtrMetadataRequest()
		bad.SetVersion(12)
		bad.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
		first := c.send(ok)
		c.send(bad)
		c.send(ok)
		c.recv(ok, first) // answered before the bad one
		c.expectClosed()
		other.recv(ok, other.send(ok))
	}
}

func TestPipelining(t *testing.T) {
	const (
		n        = 300
		inFlight = 8
	)
	var running, peak atomic.Int32
	_, addr := startServer(t, Config{
		MaxInFlightPerConn: inFlight,
		Handler: basicHandler(func(ctx context.Context, req *Request) (*Response, error, bool) {
			r := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if r <= p || peak.CompareAndSwap(p, r) {
					break
				}
			}
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			// Echo the topic so the test sees which request was answered.
			m := req.Msg.(*kmsg.MetadataRequest)
			resp := metadataResponse(req)
			t := kmsg.NewMetadataResponseTopic()
			t.Topic = m.Topics[0].Topic
			resp.Msg.(*kmsg.MetadataResponse).Topics = append(resp.Msg.(*kmsg.MetadataResponse).Topics, t)
			return resp, nil, true
		}),
	})
	c := dialRaw(t, "tcp", addr)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(9)
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(strconvItoa(i))}}
			c.send(r)
		}
	})
	for i := range n {
		resp := c.recv(req, int32(i+1)).(*kmsg.MetadataResponse)
		if got := *resp.Topics[0].Topic; got != strconvItoa(i) {
			t.Fatalf("response %d is for request %s", i, got)
		}
	}
	wg.Wait()
	if p := peak.Load(); p < 2 || p > inFlight {
		t.Fatalf("peak concurrent handlers %d, want in [2,%d]", p, inFlight)
	}
	t.Logf("peak concurrent handlers: %d", peak.Load())
}

// Produce requests of one connection are handled one at a time, in order,
// while other requests keep running concurrently.
func TestOrderedProduce(t *testing.T) {
	const n = 60
	var (
		mu      sync.Mutex
		order   []int32
		running atomic.Int32
	)
	_, addr := startServer(t, Config{Handler: basicHandler(func(ctx context.Context, req *Request) (*Response, error, bool) {
		p, ok := req.Msg.(*kmsg.ProduceRequest)
		if !ok {
			return nil, nil, false
		}
		if running.Add(1) != 1 {
			t.Errorf("two produce requests of one connection handled at once")
		}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		mu.Lock()
		order = append(order, p.TimeoutMillis)
		mu.Unlock()
		running.Add(-1)
		return &Response{Msg: kmsg.NewPtrProduceResponse()}, nil, true
	})})
	c := dialRaw(t, "tcp", addr)
	var corrs []int32
	for i := range n {
		p := kmsg.NewPtrProduceRequest()
		p.SetVersion(9)
		p.Acks = 1
		p.TimeoutMillis = int32(i)
		corrs = append(corrs, c.send(p))
		m := kmsg.NewPtrMetadataRequest()
		m.SetVersion(12)
		corrs = append(corrs, c.send(m))
	}
	for i, corr := range corrs {
		if i%2 == 0 {
			p := kmsg.NewPtrProduceRequest()
			p.SetVersion(9)
			c.recv(p, corr)
		} else {
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(12)
			c.recv(m, corr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, v := range order {
		if v != int32(i) {
			t.Fatalf("produce %d handled at position %d: %v", v, i, order)
		}
	}
	if len(order) != n {
		t.Fatalf("%d produce requests handled, want %d", len(order), n)
	}
}

// Close cancels handlers blocked on their context and leaves no goroutine.
func TestCloseStopsEverything(t *testing.T) {
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan struct{}, 16)
	s, err := New(Config{
		APIs:   testAPIs,
		Logger: testLogger(t),
		Handler: basicHandler(func(ctx context.Context, req *Request) (*Response, error, bool) {
			blocked <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err(), true
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	req := kmsg.NewPtrMetadataRequest()
	for range 3 {
		c := dialRaw(t, "tcp", ln.Addr().String())
		for range 4 {
			c.send(req)
		}
	}
	idle := dialRaw(t, "tcp", ln.Addr().String())
	_ = idle
	for range 12 {
		<-blocked
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	checkNoServerGoroutines(t)
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no handler":      {APIs: testAPIs},
		"api versions":    {Handler: basicHandler(nil), APIs: map[int16]VersionRange{18: {0, 3}}},
		"unknown key":     {Handler: basicHandler(nil), APIs: map[int16]VersionRange{9999: {0, 0}}},
		"inverted range":  {Handler: basicHandler(nil), APIs: map[int16]VersionRange{3: {5, 2}}},
		"above kmsg max":  {Handler: basicHandler(nil), APIs: map[int16]VersionRange{3: {0, 100}}},
		"negative limits": {Handler: basicHandler(nil), MaxInFlightPerConn: -1},
		"ordered unknown": {Handler: basicHandler(nil), APIs: testAPIs, OrderedAPIs: []int16{3, 8}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted a bad config", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
