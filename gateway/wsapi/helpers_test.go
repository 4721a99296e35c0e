package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/fanout"
	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// The gateway's backend is what the lead wires in as Topics.
var _ Topics = (*backend.Backend)(nil)

// kadmTopics implements Topics over the Kafka protocol with kadm, as the
// gateway's backend does.
type kadmTopics struct{ adm *kadm.Client }

func (k kadmTopics) TopicMeta(ctx context.Context, name string) (backend.TopicMeta, error) {
	tds, err := k.adm.ListTopics(ctx, name)
	if err != nil {
		return backend.TopicMeta{}, err
	}
	td, ok := tds[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return backend.TopicMeta{}, apierr.New(http.StatusNotFound, apierr.CodeTopicNotFound, "topic %q does not exist", name)
	}
	if td.Err != nil {
		return backend.TopicMeta{}, td.Err
	}
	return backend.TopicMeta{Name: name, ID: uuid.UUID(td.ID).String(), Partitions: int32(len(td.Partitions))}, nil
}

func (k kadmTopics) Offsets(ctx context.Context, topic string, timestamp *int64) ([]backend.PartitionOffsets, error) {
	starts, err := k.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := k.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var at kadm.ListedOffsets
	if timestamp != nil {
		if at, err = k.adm.ListOffsetsAfterMilli(ctx, *timestamp, topic); err != nil {
			return nil, err
		}
	}
	var out []backend.PartitionOffsets
	for p, s := range starts[topic] {
		if s.Err != nil {
			return nil, s.Err
		}
		po := backend.PartitionOffsets{Partition: p, Earliest: s.Offset, Latest: ends[topic][p].Offset}
		if timestamp != nil {
			off := at[topic][p].Offset
			po.ForTimestamp = &off
		}
		out = append(out, po)
	}
	return out, nil
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// env is a broker, a fan-out hub and a Handler behind an httptest server.
type env struct {
	t        *testing.T
	cluster  *brokertest.Cluster
	producer *kgo.Client
	hub      *fanout.Hub
	h        *Handler
	srv      *httptest.Server
	reg      *prometheus.Registry
	minter   *auth.Minter
	url      string // ws://host/v1/ws
	pad      string // added to produced values
}

type envOptions struct {
	limits  Limits
	hub     fanout.Options
	origins []string
	// sendBuffer, when set, is the server sockets' SO_SNDBUF, so that a
	// client that stops reading fills the kernel's buffers quickly.
	sendBuffer int
	// maxWait is the source's long-poll limit; default 200 ms.
	maxWait time.Duration
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	c := brokertest.Start(t, 1, brokertest.Options{})
	// A fetch client and a stored-event client besides the metadata
	// client, as the gateway's backend has (it has a few of each).
	src := backend.NewKafkaSource(c.Client(), c.Client())
	src.SetStoredClients(c.Client())
	src.MaxWait = 200 * time.Millisecond
	if o.maxWait > 0 {
		src.MaxWait = o.maxWait
	}
	hub, err := fanout.NewHub(src, o.hub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{HS256Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	m, err := auth.NewSecretMinter(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(Config{
		Hub:            hub,
		Verifier:       v,
		Topics:         kadmTopics{c.Admin()},
		AllowedOrigins: o.origins,
		Registerer:     reg,
		Limits:         o.limits,
		// Short, so that the lag metric follows the log promptly.
		LagRefreshInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", h)
	srv := httptest.NewUnstartedServer(mux)
	if o.sendBuffer > 0 {
		srv.Listener = sndbufListener{srv.Listener, o.sendBuffer}
	}
	srv.Start()
	e := &env{
		t: t, cluster: c, hub: hub, h: h, srv: srv, reg: reg, minter: m,
		producer: c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())),
		url:      "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws",
	}
	t.Cleanup(func() {
		h.Close()
		srv.Close()
		hub.Close()
	})
	return e
}

type sndbufListener struct {
	net.Listener
	size int
}

func (l sndbufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// token mints a token; consume nil means admin.
func (e *env) token(ttl time.Duration, consume ...string) string {
	e.t.Helper()
	tok, err := e.minter.Mint(auth.MintOptions{Subject: "test", Admin: consume == nil, Consume: consume, TTL: ttl})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// produce writes n events to topic/partition, keyed "k<i>" with JSON
// values {"i": i} (padded with e.pad) and a header, at timestamps ts0+i
// when ts0 > 0.
func (e *env) produce(topic string, partition int32, from, n int, ts0 int64) {
	e.t.Helper()
	if err := e.produceErr(topic, partition, from, n, ts0); err != nil {
		e.t.Fatal(err)
	}
}

// produceErr is produce for other goroutines than the test's.
func (e *env) produceErr(topic string, partition int32, from, n int, ts0 int64) error {
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		r := &kgo.Record{
			Topic: topic, Partition: partition,
			Key:     fmt.Appendf(nil, "k%d", i),
			Value:   fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, e.pad),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}},
		}
		if ts0 > 0 {
			r.Timestamp = time.UnixMilli(ts0 + int64(i))
		}
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.producer.ProduceSync(ctx, recs...).FirstErr()
}

// metric returns the gathered family called name.
func (e *env) metric(name string) *dto.MetricFamily {
	e.t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	e.t.Fatalf("no metric %s", name)
	return nil
}

func (e *env) socketsOpen() int {
	return int(e.metric("runnel_gateway_ws_sockets_open").GetMetric()[0].GetGauge().GetValue())
}

// frame is any server frame.
type frame struct {
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	Topic      string            `json:"topic"`
	TopicID    string            `json:"topic_id"`
	Partitions []int32           `json:"partitions"`
	Offsets    map[string]int64  `json:"offsets"`
	Partition  int32             `json:"partition"`
	Offset     int64             `json:"offset"`
	Timestamp  int64             `json:"timestamp"`
	Key        *string           `json:"key"`
	Value      json.RawMessage   `json:"value"`
	Headers    map[string]string `json:"headers"`
	Events     []frame           `json:"events"`
	Op         string            `json:"op"`
	Exp        int64             `json:"exp"`
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	LogStart   *int64            `json:"log_start_offset"`
	HWM        *int64            `json:"high_watermark"`
	raw        string
}

// client is a gorilla WebSocket client. Every frame it sends and receives
// is checked against openapi.yaml's frame schemas: a frame the client sends
// must be a WsClientFrame unless the test sends it as bad on purpose
// (sendBad), and then the document must refuse it too; every frame the
// server sends must be a WsServerFrame.
type client struct {
	t *testing.T
	c *websocket.Conn
	// eventsChecked counts the event frames checked against openapi.yaml.
	eventsChecked int
}

// checkedEventsPerClient bounds the event frames of one client checked
// against openapi.yaml: every other frame is checked, and events after
// the first ones only repeat their shape, while a schema check costs
// about a millisecond (thousands of events made the scale tests' clients
// too slow to read what they measure).
const checkedEventsPerClient = 50

// dial opens a socket; it fails the test unless the upgrade succeeds.
func (e *env) dial(query string, header http.Header) *client {
	e.t.Helper()
	c, resp, err := e.tryDial(websocket.DefaultDialer, query, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (status %d)", err, status)
	}
	return c
}

func (e *env) tryDial(d *websocket.Dialer, query string, header http.Header) (*client, *http.Response, error) {
	u := e.url
	if query != "" {
		u += "?" + query
	}
	c, resp, err := d.Dial(u, header)
	if err != nil {
		return nil, resp, err
	}
	e.t.Cleanup(func() { c.Close() })
	return &client{t: e.t, c: c}, resp, nil
}

// dialAuthed opens a socket with an admin token in the query.
func (e *env) dialAuthed() *client {
	e.t.Helper()
	return e.dial("access_token="+e.token(time.Hour), nil)
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// sendRaw sends a text frame the document must accept.
func (c *client) sendRaw(s string) {
	c.t.Helper()
	openapitest.CheckClientFrame(c.t, []byte(s))
	c.write(s)
}

// sendBad sends a text frame the document must refuse, as the server does.
func (c *client) sendBad(s string) {
	c.t.Helper()
	if err := openapitest.ClientFrameError([]byte(s)); err == nil {
		c.t.Errorf("openapi.yaml accepts the bad frame %.200s", s)
	} else if !errors.Is(err, openapitest.ErrFrameMismatch) {
		c.t.Error(err)
	}
	c.write(s)
}

func (c *client) write(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one frame, waiting at most timeout.
func (c *client) next(timeout time.Duration) (frame, error) {
	c.c.SetReadDeadline(time.Now().Add(timeout))
	mt, b, err := c.c.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if mt != websocket.TextMessage {
		return frame{}, fmt.Errorf("message type %d, want text", mt)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %s: %w", b, err)
	}
	isEvents := f.Type == "event" || f.Type == "events"
	if !isEvents || c.eventsChecked < checkedEventsPerClient {
		openapitest.CheckServerFrame(c.t, b)
		if isEvents {
			c.eventsChecked++
		}
	}
	f.raw = string(b)
	return f, nil
}

// expect reads the next frame and checks its type and id.
func (c *client) expect(typ, id string) frame {
	c.t.Helper()
	f, err := c.next(20 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s %q: %v", typ, id, err)
	}
	if f.Type != typ || f.ID != id {
		c.t.Fatalf("got %s, want a %s frame with id %q", f.raw, typ, id)
	}
	return f
}

// expectError reads the next frame and checks it is an error with code.
func (c *client) expectError(id, code string) frame {
	c.t.Helper()
	f := c.expect("error", id)
	if f.Code != code || f.Message == "" {
		c.t.Fatalf("got %s, want code %q and a message", f.raw, code)
	}
	return f
}

// closeCode reads until the server closes the socket and returns the close
// code.
func (c *client) closeCode() (int, string) {
	c.t.Helper()
	for {
		_, err := c.next(20 * time.Second)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("want a close frame, got %v", err)
		}
		return ce.Code, ce.Text
	}
}

// subscribe sends a subscribe frame and waits for its subscribed frame.
func (c *client) subscribe(id, topic string, extra map[string]any) frame {
	c.t.Helper()
	m := map[string]any{"type": "subscribe", "id": id, "topic": topic}
	for k, v := range extra {
		m[k] = v
	}
	c.send(m)
	return c.expect("subscribed", id)
}

// checkEvent checks an event frame carries what env.produce wrote.
func checkEvent(t *testing.T, f frame, topic string) {
	t.Helper()
	i := -1
	var v struct{ I int }
	if json.Unmarshal(f.Value, &v) == nil {
		i = v.I
	}
	if f.Topic != topic || f.Key == nil || *f.Key != fmt.Sprintf("k%d", i) || f.Headers["h"] != "v" || f.Timestamp == 0 {
		t.Fatalf("event %s does not look produced by env.produce to %s", f.raw, topic)
	}
}
