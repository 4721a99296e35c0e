package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// TestSASLSSLListener: a node with a SASL_SSL listener (TLS with the test
// CA, then SASL) and a SASL_PLAINTEXT one. franz-go produces and consumes
// in a group over TLS as a SCRAM-SHA-512 super user, with Metadata naming
// the SASL_SSL listener's address; PLAIN is accepted there with the same
// user's password (and refused with a wrong one), but not offered on
// SASL_PLAINTEXT, where SCRAM still works; a TLS client that does not
// authenticate gets no answer. Users are made through an INTERNAL
// PLAINTEXT listener, which is unauthenticated.
func TestSASLSSLListener(t *testing.T) {
	ca := tlstest.NewCA(t, "sasl_ssl CA")
	internal, secure, saslPlain := listen(t), listen(t), listen(t)
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"},
		Logger: quietLogger(),
		Listeners: []broker.ListenerConfig{
			{Name: "INTERNAL", Protocol: broker.Plaintext, Listener: internal},
			{Name: "SECURE", Protocol: broker.SASLSSL, Listener: secure, TLS: serverTLS(t, ca, "broker-1", false)},
			{Name: "SASL_PLAINTEXT", Protocol: broker.SASLPlaintext, Listener: saslPlain},
		},
		SCRAM:      []string{saslauth.SCRAMSHA512, saslauth.PlainName},
		SuperUsers: []string{"User:root"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin, err := kgo.NewClient(kgo.SeedBrokers(internal.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "root", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "root-pw"}})
		if err != nil {
			return err
		}
		return res["root"].Err
	})
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secure-orders"); err != nil {
		t.Fatal(err)
	}

	dialTLS := kgo.DialTLSConfig(clientTLS(t, ca, nil, ""))
	scramRoot := kgo.SASL(scram.Auth{User: "root", Pass: "root-pw"}.AsSha512Mechanism())
	newClient := func(addr string, opts ...kgo.Opt) *kgo.Client {
		t.Helper()
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	metadata := func(cl *kgo.Client) (*kmsg.MetadataResponse, error) {
		return kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	}

	// SCRAM-SHA-512 over TLS: the credential reaches the broker's image
	// through raft, so the first login may have to wait for it.
	producer := newClient(secure.Addr().String(), dialTLS, scramRoot, kgo.DefaultProduceTopic("secure-orders"))
	var md *kmsg.MetadataResponse
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() (err error) {
		md, err = metadata(producer)
		return err
	})
	if len(md.Brokers) != 1 || net.JoinHostPort(md.Brokers[0].Host, strconv.Itoa(int(md.Brokers[0].Port))) != secure.Addr().String() {
		t.Fatalf("metadata on SECURE lists %+v, want %s", md.Brokers, secure.Addr())
	}
	for i := range 5 {
		if err := producer.ProduceSync(ctx, kgo.StringRecord("order-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce over SASL_SSL: %v", err)
		}
	}
	consumer := newClient(secure.Addr().String(), dialTLS, scramRoot, kgo.ConsumeTopics("secure-orders"),
		kgo.ConsumerGroup("secure-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := pollValues(ctx, t, consumer, 5)
	if got[0] != "order-0" || got[4] != "order-4" {
		t.Fatalf("consumed %v", got)
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit over SASL_SSL: %v", err)
	}

	// PLAIN over TLS with the same user's password: the records are there.
	plainRoot := newClient(secure.Addr().String(), dialTLS, kgo.SASL(plain.Auth{User: "root", Pass: "root-pw"}.AsMechanism()))
	offsets, err := kadm.NewClient(plainRoot).ListEndOffsets(ctx, "secure-orders")
	if err != nil {
		t.Fatalf("PLAIN over SASL_SSL: %v", err)
	}
	if o, ok := offsets.Lookup("secure-orders", 0); !ok || o.Err != nil || o.Offset != 5 {
		t.Fatalf("end offset through PLAIN: %+v, want 5", o)
	}
	wrong := newClient(secure.Addr().String(), dialTLS, kgo.SASL(plain.Auth{User: "root", Pass: "nope"}.AsMechanism()))
	if _, err := metadata(wrong); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("PLAIN with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// SASL_PLAINTEXT: SCRAM works, PLAIN is not offered.
	if _, err := metadata(newClient(saslPlain.Addr().String(), scramRoot)); err != nil {
		t.Fatalf("SCRAM over SASL_PLAINTEXT: %v", err)
	}
	plainNoTLS := newClient(saslPlain.Addr().String(), kgo.SASL(plain.Auth{User: "root", Pass: "root-pw"}.AsMechanism()))
	if _, err := metadata(plainNoTLS); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("PLAIN over SASL_PLAINTEXT: %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}

	// TLS without SASL: the listener answers nothing but ApiVersions.
	anon := newClient(secure.Addr().String(), dialTLS)
	if md, err := metadata(anon); err == nil {
		t.Fatalf("unauthenticated metadata over SASL_SSL answered: %+v", md)
	}
}

// TestPeerTLSAndSASL: two brokers whose inter-broker listener is SASL_SSL
// with client certificates replicate: the followers' fetchers dial with
// the peer TLS configuration and authenticate with PeerSASL, a SCRAM super
// user made through a loopback PLAINTEXT listener after the start (an
// acks=all produce with min.insync.replicas=2 commits only once the
// follower fetches).
func TestPeerTLSAndSASL(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	secure := []net.Listener{listen(t), listen(t)}
	var cfgs []broker.NodeConfig
	for i, ln := range secure {
		name := fmt.Sprintf("broker-%d", i+1)
		cfgs = append(cfgs, broker.NodeConfig{
			MinInsyncReplicas: 2,
			Listeners: []broker.ListenerConfig{
				{Name: "INTERNAL", Protocol: broker.SASLSSL, Listener: ln, TLS: serverTLS(t, ca, name, true)},
				{Name: "LOCAL", Protocol: broker.Plaintext, Listener: listen(t)},
			},
			InterBrokerListener: "INTERNAL",
			PeerTLS:             &broker.PeerTLS{Server: serverTLS(t, ca, name, true), Client: clientTLS(t, ca, ca, name)},
			SCRAM:               []string{saslauth.SCRAMSHA512},
			SuperUsers:          []string{"User:peer"},
			PeerSASL:            scram.Auth{User: "peer", Pass: "peer-pw"}.AsSha512Mechanism(),
		})
	}
	nodes := startVoters(t, cfgs)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	local, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].ListenerAddr("LOCAL")))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	adm := kadm.NewClient(local)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "peer", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "peer-pw"}})
		if err != nil {
			return err
		}
		return res["peer"].Err
	})
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "replicated"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(secure[0].Addr().String()), kgo.DialTLSConfig(clientTLS(t, ca, ca, "client")),
		kgo.SASL(scram.Auth{User: "peer", Pass: "peer-pw"}.AsSha512Mechanism()),
		kgo.DefaultProduceTopic("replicated"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Retried until the follower, fetching over TLS with SASL, is in the
	// ISR.
	testwait.For(t, 60*time.Second, 100*time.Millisecond, func() error {
		return cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr()
	})
}
