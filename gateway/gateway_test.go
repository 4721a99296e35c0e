package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/httpapi"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// testSecret signs the tokens of the tests and benchmarks.
var testSecret = []byte("gateway-test-secret-gateway-test-secret!")

// startGateway starts a gateway in front of cluster c, its Config changed
// by mods.
func startGateway(t testing.TB, c *brokertest.Cluster, mods ...func(*Config)) *Gateway {
	t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Brokers: c.Addrs(), Auth: auth.Config{HS256Secret: testSecret}}
	for _, m := range mods {
		m(&cfg)
	}
	g, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("close gateway: %v", err)
		}
	})
	return g
}

// readPaths runs test twice: with the gateway reading the brokers over the
// Kafka protocol (local false), and with the cluster's first broker
// attached as the gateway's in-process broker, as "runnel dev" does.
func readPaths(t *testing.T, test func(t *testing.T, local bool)) {
	t.Run("kafka", func(t *testing.T) { test(t, false) })
	t.Run("local", func(t *testing.T) { test(t, true) })
}

// readPath attaches the first broker of c to the gateway when local.
func readPath(c *brokertest.Cluster, local bool) func(*Config) {
	return func(cfg *Config) {
		if local {
			cfg.LocalBroker = c.Nodes[0].Broker
		}
	}
}

func adminToken(t testing.TB) string {
	t.Helper()
	m, err := auth.NewSecretMinter(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(auth.MintOptions{Subject: "tester", Admin: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func post(t *testing.T, url, token, idemKey, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOneAddressRESTAndWebSocket: a WebSocket subscriber on one gateway
// receives what is POSTed to another, each gateway serving REST and the
// WebSocket on its one address.
func TestOneAddressRESTAndWebSocket(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("chat", 1, nil)
	g1, g2 := startGateway(t, c), startGateway(t, c)
	tok := adminToken(t)

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g1.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s1", "topic": "chat", "from": "latest"})
	read := func() map[string]any { t.Helper(); return wsNext(t, ws, 10*time.Second) }
	if f := read(); f["type"] != "subscribed" {
		t.Fatalf("subscribe: %v", f)
	}
	if code, body := post(t, g2.URL()+"/v1/topics/chat/events?acks=1", tok, "", `{"key":"k","value":{"hi":1}}`); code != 200 {
		t.Fatalf("produce: %d %s", code, body)
	}
	if f := read(); f["type"] != "event" || fmt.Sprint(f["value"]) != "map[hi:1]" {
		t.Fatalf("event: %v", f)
	}
	// And the REST API is on g1's address too.
	resp, err := http.Get(g1.URL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on the WebSocket's address: %v %v", resp, err)
	}
	resp.Body.Close()
	// A plain GET of /v1/ws (no upgrade) goes to the REST side, which
	// answers as openapi.yaml says.
	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	resp, err = client.Get(g1.URL() + "/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_request"`) {
		t.Fatalf("GET /v1/ws without an upgrade: %d %s, want 400 invalid_request", resp.StatusCode, body)
	}
}

// TestIdempotencyKeyThroughTwoGatewaysAndBrokerRestart: the same request
// with the same Idempotency-Key, sent through two gateways and again after
// the broker restarted, is answered the same way every time and written
// once.
func TestIdempotencyKeyThroughTwoGatewaysAndBrokerRestart(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("orders", 3, nil)
	g1, g2 := startGateway(t, c), startGateway(t, c)
	tok := adminToken(t)
	body := `{"events":[{"value":{"order":1}},{"key":"a","value":{"order":2}},{"value":{"order":3}}]}`

	code, first := post(t, g1.URL()+"/v1/topics/orders/events", tok, "order-batch-1", body)
	if code != 200 {
		t.Fatalf("first: %d %s", code, first)
	}
	if code, again := post(t, g2.URL()+"/v1/topics/orders/events", tok, "order-batch-1", body); code != 200 || again != first {
		t.Fatalf("retry through the other gateway: %d %s, first %s", code, again, first)
	}
	c.Stop(0)
	c.Restart(0)
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		code, again := post(t, g2.URL()+"/v1/topics/orders/events", tok, "order-batch-1", body)
		if code != 200 {
			return fmt.Errorf("retry after restart: %d %s", code, again)
		}
		if again != first {
			t.Fatalf("retry after restart answered %s, first %s", again, first)
		}
		return nil
	})
	// Every partition holds exactly what the first request wrote there.
	var res struct {
		Results []struct{ Partition int } `json:"results"`
	}
	json.Unmarshal([]byte(first), &res)
	want := map[int]int{}
	for _, r := range res.Results {
		want[r.Partition]++
	}
	req, _ := http.NewRequest("GET", g1.URL()+"/v1/topics/orders/offsets", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var offs struct {
		Partitions []struct{ Partition, Earliest, Latest int } `json:"partitions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&offs); err != nil {
		t.Fatal(err)
	}
	for _, p := range offs.Partitions {
		if n := p.Latest - p.Earliest; n != want[p.Partition] {
			t.Errorf("partition %d holds %d events; the request put %d there", p.Partition, n, want[p.Partition])
		}
	}
}

// TestHeadTimeoutCoversTheSplit: a connection whose first request head
// does not arrive is closed after the REST head timeout, also while the
// listener is still deciding which server it goes to.
func TestHeadTimeoutCoversTheSplit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	g, err := Start(ctx, Config{
		Listen: "127.0.0.1:0", Brokers: []string{"127.0.0.1:1"}, Auth: auth.Config{HS256Secret: testSecret},
		HTTP: httpapi.Limits{HeadTimeout: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/ws HTTP/1.1\r\nHost: x\r\n") // and no more
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}
