package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/internal/tlsconf"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// TestHTTPSAndWSS: with Config.TLS the one address serves HTTPS and WSS;
// a client trusting the test CA produces over HTTPS and receives over WSS,
// a plaintext request gets no HTTP answer, and a replaced certificate is
// what the next connection sees.
func TestHTTPSAndWSS(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("chat", 1, nil)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "gateway test CA")
	certFile, keyFile := ca.Issue(t, "gateway-1").Write(t, dir, "gw")
	store, err := tlsconf.Open(tlsconf.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := store.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(context.Background(), Config{
		Listen: "127.0.0.1:0", Brokers: c.Addrs(), Auth: auth.Config{HS256Secret: testSecret}, TLS: scfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if !strings.HasPrefix(g.URL(), "https://") {
		t.Fatalf("URL %s with TLS", g.URL())
	}
	tok := adminToken(t)
	clientTLS := &tls.Config{RootCAs: ca.Pool()}
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}, Timeout: 30 * time.Second}

	dialer := websocket.Dialer{TLSClientConfig: clientTLS, HandshakeTimeout: 10 * time.Second}
	ws, _, err := dialer.Dial("wss://"+g.Addr().String()+"/v1/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsSend(t, ws, map[string]any{"type": "subscribe", "id": "s1", "topic": "chat", "from": "latest"})
	if f := wsNext(t, ws, 10*time.Second); f["type"] != "subscribed" {
		t.Fatalf("subscribe: %v", f)
	}
	produce := func(value string) {
		t.Helper()
		req, _ := http.NewRequest("POST", g.URL()+"/v1/topics/chat/events?acks=1", strings.NewReader(`{"value":`+value+`}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("produce over HTTPS: %d %s", resp.StatusCode, body)
		}
	}
	produce(`{"hi":1}`)
	if f := wsNext(t, ws, 10*time.Second); f["type"] != "event" || fmt.Sprint(f["value"]) != "map[hi:1]" {
		t.Fatalf("event over WSS: %v", f)
	}

	// Plain HTTP on the TLS port: no HTTP response, the connection closes.
	nc, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	got, _ := io.ReadAll(nc)
	nc.Close()
	if strings.HasPrefix(string(got), "HTTP/") {
		t.Fatalf("plain HTTP on the TLS port was answered: %q", got)
	}

	// Rotation: the next connection sees the new certificate, the open
	// WebSocket keeps working.
	ca.Issue(t, "gateway-2").Write(t, dir, "gw")
	conn, err := tls.Dial("tcp", g.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "gateway-2" {
		t.Fatalf("after rotation a new connection sees %q", cn)
	}
	conn.Close()
	produce(`{"hi":2}`)
	if f := wsNext(t, ws, 10*time.Second); f["type"] != "event" || fmt.Sprint(f["value"]) != "map[hi:2]" {
		t.Fatalf("event on the WebSocket opened before the rotation: %v", f)
	}
}

// TestGatewayToBrokersOverTLS: with Config.BrokerTLS the gateway reaches a
// broker whose only listener is SSL with client certificates required; a
// gateway that trusts another CA cannot produce.
func TestGatewayToBrokersOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"},
		AutoCreateTopics: true, Logger: slog.New(slog.DiscardHandler),
		Listeners: []broker.ListenerConfig{{Name: "SSL", Protocol: broker.SSL, Listener: ln, TLS: &tls.Config{
			Certificates: []tls.Certificate{ca.Issue(t, "broker").TLSCertificate(t)},
			ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
		}}},
		PeerTLS: &broker.PeerTLS{
			Server: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "peer").TLSCertificate(t)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()},
			Client: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Issue(t, "peer").TLSCertificate(t)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	tok := adminToken(t)
	start := func(brokerTLS *tls.Config) (*Gateway, error) {
		return Start(context.Background(), Config{
			Listen: "127.0.0.1:0", Brokers: []string{ln.Addr().String()}, Auth: auth.Config{HS256Secret: testSecret}, BrokerTLS: brokerTLS,
			ProduceLeaderWait: time.Second,
		})
	}
	g, err := start(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{ca.Issue(t, "gateway").TLSCertificate(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, body := post(t, g.URL()+"/v1/topics", tok, "", `{"name":"secure","partitions":1}`); code != 201 && code != 409 {
			return fmt.Errorf("create topic through TLS: %d %s", code, body)
		}
		if code, body := post(t, g.URL()+"/v1/topics/secure/events?acks=1", tok, "", `{"value":1}`); code != 200 {
			return fmt.Errorf("produce through TLS: %d %s", code, body)
		}
		return nil
	})

	foreign := tlstest.NewCA(t, "foreign CA")
	bad, err := start(&tls.Config{RootCAs: foreign.Pool(), Certificates: []tls.Certificate{ca.Issue(t, "gateway").TLSCertificate(t)}})
	if err != nil {
		return // refused at start: it could not reach the brokers
	}
	defer bad.Close()
	if code, body := post(t, bad.URL()+"/v1/topics/secure/events?acks=1", tok, "", `{"value":2}`); code == 200 {
		t.Fatalf("a gateway that does not trust the brokers' CA produced: %s", body)
	}
}
