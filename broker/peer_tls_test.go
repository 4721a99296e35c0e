package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// TestPeerMutualTLS: two brokers whose raft transport and inter-broker
// SSL listener use mutual TLS with a cluster CA form a cluster and
// replicate (an acks=all produce with min.insync.replicas=2 needs the
// follower's fetch over TLS). A raft peer with a certificate of another CA,
// or none, is refused in the TLS handshake, before the raft layer reads a
// byte.
func TestPeerMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	kafkaLns := []net.Listener{listen(t), listen(t)}
	var cfgs []broker.NodeConfig
	for i, ln := range kafkaLns {
		name := fmt.Sprintf("broker-%d", i+1)
		cfgs = append(cfgs, broker.NodeConfig{
			MinInsyncReplicas: 2,
			Listeners:         []broker.ListenerConfig{{Name: "INTERNAL", Protocol: broker.SSL, Listener: ln, TLS: serverTLS(t, ca, name, true)}},
			PeerTLS:           &broker.PeerTLS{Server: serverTLS(t, ca, name, true), Client: clientTLS(t, ca, ca, name)},
		})
	}
	nodes := startVoters(t, cfgs)
	raftAddr := nodes[0].Member.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaLns[0].Addr().String()), kgo.DialTLSConfig(clientTLS(t, ca, ca, "client")),
		kgo.DefaultProduceTopic("replicated"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "replicated"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Retried until the follower, fetching over TLS, is in the ISR.
	testwait.For(t, 60*time.Second, 100*time.Millisecond, func() error {
		return cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr()
	})

	foreign := tlstest.NewCA(t, "foreign CA")
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"foreign certificate", clientTLS(t, ca, foreign, "intruder")},
		{"no certificate", clientTLS(t, ca, nil, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tls.Dialer{Config: tc.cfg}
			c, err := d.DialContext(ctx, "tcp", raftAddr)
			if err != nil {
				if !isCertRefusal(err) {
					t.Fatalf("dial: %v", err)
				}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			// Whatever the peer sends (here the start of a raft frame),
			// the server's verdict on its certificate comes first.
			c.Write([]byte{0, 0, 0, 9, 1})
			_, err = c.Read(make([]byte, 1))
			if err == nil || !isCertRefusal(err) {
				t.Fatalf("raft listener answered a peer with a %s: %v", tc.name, err)
			}
		})
	}
	t.Run("plaintext", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", raftAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte{0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1})
		var ne net.Error
		if _, err := c.Read(make([]byte, 64)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("plaintext peer on the raft port: %v, want the connection closed", err)
		}
	})
}

// isCertRefusal reports whether err is a TLS alert refusing a client
// certificate.
func isCertRefusal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unknown certificate authority") || strings.Contains(s, "certificate required") || strings.Contains(s, "bad certificate")
}
