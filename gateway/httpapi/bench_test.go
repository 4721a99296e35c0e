package httpapi

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
)

// nullBackend accepts every produce at once, so that benchmarks measure
// the gateway alone.
type nullBackend struct {
	failingBackend
	offset atomic.Int64
}

func (n *nullBackend) Produce(_ context.Context, _ string, _ backend.Acks, events []event.Event, _ string) ([]backend.Result, error) {
	res := make([]backend.Result, len(events))
	base := n.offset.Add(int64(len(events))) - int64(len(events))
	for i := range res {
		res[i] = backend.Result{Partition: 0, Offset: base + int64(i), Timestamp: 1767225600000}
	}
	return res, nil
}

// benchBody is what the load generator sends: n events with a short key
// and a JSON string value, about size bytes each.
func benchBody(n, size int) []byte {
	value := `"` + strings.Repeat("x", max(size-2, 0)) + `"`
	ev := func(i int) string { return `{"key":"k` + strconv.Itoa(i) + `","value":` + value + `}` }
	if n == 1 {
		return []byte(ev(0))
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = ev(i)
	}
	return []byte(`{"events":[` + strings.Join(parts, ",") + `]}`)
}

func newBenchServer(b *testing.B) (*Server, string) {
	b.Helper()
	v, err := auth.NewVerifier(auth.Config{HS256Secret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Backend: &nullBackend{}, Verifier: v})
	if err != nil {
		b.Fatal(err)
	}
	m, err := auth.NewSecretMinter(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := m.Mint(auth.MintOptions{Subject: "bench", Produce: []string{"*"}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return s, tok
}

// benchHandler runs the produce handler in process, without sockets:
// the gateway's CPU cost per request and per event.
func benchHandler(b *testing.B, n int) {
	s, tok := newBenchServer(b)
	h := s.app.Handler()
	body := benchBody(n, 100)
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/topics/bench/events?acks=1")
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.SetBody(body)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		ctx.ResetUserValues() // as fasthttp does for every request
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkProduceHandler1(b *testing.B)   { benchHandler(b, 1) }
func BenchmarkProduceHandler100(b *testing.B) { benchHandler(b, 100) }

// benchHTTP sends produce requests over loopback HTTP from conns
// concurrent fasthttp clients, as the load generator does: the whole
// gateway, sockets included, sharing the machine with its load.
func benchHTTP(b *testing.B, n, conns int) {
	s, tok := newBenchServer(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	defer func() {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			b.Error(err)
		}
		<-served
	}()
	client := &fasthttp.Client{MaxConnsPerHost: conns}
	url := "http://" + ln.Addr().String() + "/v1/topics/bench/events?acks=1"
	body := benchBody(n, 100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for next.Add(1) <= int64(b.N) {
				req.Reset()
				req.SetRequestURI(url)
				req.Header.SetMethod("POST")
				req.Header.SetContentType("application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				req.SetBodyRaw(body)
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Errorf("request: %v %d %s", err, resp.StatusCode(), resp.Body())
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
}

func BenchmarkProduceHTTP1(b *testing.B)   { benchHTTP(b, 1, 64) }
func BenchmarkProduceHTTP100(b *testing.B) { benchHTTP(b, 100, 16) }
