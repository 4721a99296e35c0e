package broker_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serverTLS is a server config with a certificate of ca, requiring client
// certificates of ca when mutual.
func serverTLS(t *testing.T, ca *tlstest.CA, name string, mutual bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, name).TLSCertificate(t)}}
	if mutual {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	}
	return cfg
}

// clientTLS trusts roots and presents a certificate of certCA, if set.
func clientTLS(t *testing.T, roots, certCA *tlstest.CA, name string) *tls.Config {
	cfg := &tls.Config{RootCAs: roots.Pool()}
	if certCA != nil {
		cfg.Certificates = []tls.Certificate{certCA.Issue(t, name).TLSCertificate(t)}
	}
	return cfg
}

// TestNamedListeners: a node with an INTERNAL PLAINTEXT and an EXTERNAL
// SSL listener answers Metadata with the addresses of the listener asked
// through, so a franz-go client on the SSL listener produces and consumes
// in a group (FindCoordinator included) over TLS only.
func TestNamedListeners(t *testing.T) {
	ca := tlstest.NewCA(t, "listeners CA")
	internal, external := listen(t), listen(t)
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"},
		AutoCreateTopics: true, Logger: quietLogger(),
		Listeners: []broker.ListenerConfig{
			{Name: "INTERNAL", Protocol: broker.Plaintext, Listener: internal},
			{Name: "EXTERNAL", Protocol: broker.SSL, Listener: external, TLS: serverTLS(t, ca, "broker-1", false)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if node.ListenerAddr("EXTERNAL") != external.Addr().String() || node.KafkaAddr() != internal.Addr().String() {
		t.Fatalf("listener addresses %q %q", node.ListenerAddr("EXTERNAL"), node.KafkaAddr())
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	_, internalPort, _ := net.SplitHostPort(internal.Addr().String())
	testwait.For(t, 20*time.Second, 20*time.Millisecond, func() error {
		m := rawRequest(t, internal.Addr().String(), md).(*kmsg.MetadataResponse)
		if len(m.Brokers) != 1 || strconv.Itoa(int(m.Brokers[0].Port)) != internalPort {
			return fmt.Errorf("metadata on INTERNAL lists %+v, want port %s", m.Brokers, internalPort)
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(external.Addr().String()), kgo.DialTLSConfig(clientTLS(t, ca, nil, ""))}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("tls-orders"), kgo.AllowAutoTopicCreation())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Brokers) != 1 || net.JoinHostPort(m.Brokers[0].Host, strconv.Itoa(int(m.Brokers[0].Port))) != external.Addr().String() {
		t.Fatalf("metadata on EXTERNAL lists %+v, want %s", m.Brokers, external.Addr())
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("event-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce over TLS: %v", err)
		}
	}
	consumer, err := kgo.NewClient(append(opts, kgo.ConsumeTopics("tls-orders"), kgo.ConsumerGroup("tls-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := pollValues(ctx, t, consumer, 10)
	if got[0] != "event-0" || got[9] != "event-9" {
		t.Fatalf("consumed %v", got)
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit through the coordinator found over TLS: %v", err)
	}
}

// pollValues polls cl until it has n record values (fetch errors are
// logged, the group may still be forming), failing at ctx's deadline.
func pollValues(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before the deadline", got)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestListenerConfigErrors: bad listener settings are refused with a
// message naming the problem, before anything is bound.
func TestListenerConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "errors CA")
	for _, tc := range []struct {
		name string
		cfg  broker.NodeConfig
		want string
	}{
		{"SSL without TLS", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.SSL, Listen: "127.0.0.1:0"}}}, "needs a TLS certificate"},
		{"PLAINTEXT with TLS", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0", TLS: serverTLS(t, ca, "x", false)}}}, "does not use TLS"},
		{"SASL", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.SASLSSL, Listen: "127.0.0.1:0", TLS: serverTLS(t, ca, "x", false)}}}, "needs SASL mechanisms"},
		{"SASL mechanisms without a SASL listener", broker.NodeConfig{SCRAM: []string{"SCRAM-SHA-512"}, Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}}}, "no listener is SASL_PLAINTEXT or SASL_SSL"},
		{"unknown protocol", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: "TLS", Listen: "127.0.0.1:0"}}}, "unknown security protocol"},
		{"bad name", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A-B", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}}}, "letters, digits or underscores"},
		{"twice", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}, {Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}}}, "named twice"},
		{"unknown inter-broker", broker.NodeConfig{InterBrokerListener: "B", Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}}}, "inter-broker listener B"},
		{"both forms", broker.NodeConfig{KafkaListen: "127.0.0.1:0", Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listen: "127.0.0.1:0"}}}, "not both"},
		{"TLS inter-broker without peer TLS", broker.NodeConfig{Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.SSL, Listen: "127.0.0.1:0", TLS: serverTLS(t, ca, "x", false)}}}, "replica fetchers need the peer TLS"},
		{"peer TLS without client auth", broker.NodeConfig{KafkaListen: "127.0.0.1:0", PeerTLS: &broker.PeerTLS{Server: serverTLS(t, ca, "x", false), Client: clientTLS(t, ca, ca, "y")}}, "must require client certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ID, tc.cfg.DataDir, tc.cfg.RaftListen, tc.cfg.Logger = 1, t.TempDir(), "127.0.0.1:0", quietLogger()
			tc.cfg.Voters = map[uint64]string{1: "127.0.0.1:0"}
			node, err := broker.StartNode(tc.cfg)
			if err == nil {
				node.Close()
				t.Fatal("StartNode succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestListenerNotFound: in a cluster where broker 2 has no EXTERNAL
// listener, Metadata on broker 1's EXTERNAL listener lists broker 1 only,
// and partitions broker 2 leads have no leader there, with
// LISTENER_NOT_FOUND (v6 and later) as Kafka answers; on INTERNAL every
// partition has its leader.
func TestListenerNotFound(t *testing.T) {
	internal1, external1, internal2 := listen(t), listen(t), listen(t)
	startVoters(t, []broker.NodeConfig{
		{Listeners: []broker.ListenerConfig{{Name: "INTERNAL", Protocol: broker.Plaintext, Listener: internal1}, {Name: "EXTERNAL", Protocol: broker.Plaintext, Listener: external1}}},
		{Listeners: []broker.ListenerConfig{{Name: "INTERNAL", Protocol: broker.Plaintext, Listener: internal2}}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(internal1.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		m := rawRequest(t, internal1.Addr().String(), kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
		if len(m.Brokers) != 2 {
			return fmt.Errorf("brokers on INTERNAL: %+v", m.Brokers)
		}
		return nil
	})
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("spread")
	md.Topics = append(md.Topics, rt)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		in := rawRequest(t, internal1.Addr().String(), md).(*kmsg.MetadataResponse)
		ex := rawRequest(t, external1.Addr().String(), md).(*kmsg.MetadataResponse)
		if len(ex.Brokers) != 1 || ex.Brokers[0].NodeID != 1 {
			return fmt.Errorf("brokers on EXTERNAL: %+v", ex.Brokers)
		}
		if len(in.Topics) != 1 || len(ex.Topics) != 1 || len(in.Topics[0].Partitions) != 4 {
			return fmt.Errorf("topics: %+v / %+v", in.Topics, ex.Topics)
		}
		led2 := 0
		for i, ip := range in.Topics[0].Partitions {
			ep := ex.Topics[0].Partitions[i]
			switch {
			case ip.Leader < 0 || ip.ErrorCode != 0:
				return fmt.Errorf("partition %d on INTERNAL: leader %d error %d", ip.Partition, ip.Leader, ip.ErrorCode)
			case ip.Leader == 2:
				led2++
				if ep.Leader != -1 || ep.ErrorCode != kerr.ListenerNotFound.Code {
					return fmt.Errorf("partition %d led by broker 2, on EXTERNAL: leader %d error %d", ep.Partition, ep.Leader, ep.ErrorCode)
				}
			case ep.Leader != 1 || ep.ErrorCode != 0:
				return fmt.Errorf("partition %d led by broker 1, on EXTERNAL: leader %d error %d", ep.Partition, ep.Leader, ep.ErrorCode)
			}
		}
		if led2 == 0 {
			return fmt.Errorf("no partition led by broker 2: %+v", in.Topics[0].Partitions)
		}
		return nil
	})
}

// startVoters starts one node per cfg, ids 1..n, all raft voters on
// loopback, at once (each waits for the others' votes), filling ID,
// DataDir, RaftListener, Voters and Logger. They are closed at cleanup.
func startVoters(t *testing.T, cfgs []broker.NodeConfig) []*broker.Node {
	t.Helper()
	voters := map[uint64]string{}
	for i := range cfgs {
		ln := listen(t)
		cfgs[i].ID, cfgs[i].DataDir, cfgs[i].RaftListener, cfgs[i].Logger = int32(i+1), t.TempDir(), ln, quietLogger()
		voters[uint64(i+1)] = ln.Addr().String()
	}
	nodes := make([]*broker.Node, len(cfgs))
	errs := make(chan error, len(cfgs))
	for i := range cfgs {
		cfgs[i].Voters = voters
		go func() {
			var err error
			nodes[i], err = broker.StartNode(cfgs[i])
			errs <- err
		}()
	}
	var failed error
	for range cfgs {
		if err := <-errs; err != nil {
			failed = err
		}
	}
	for _, n := range nodes {
		if n != nil {
			t.Cleanup(func() { n.Close() })
		}
	}
	if failed != nil {
		t.Fatal(failed)
	}
	return nodes
}

// TestListenerMetrics: each named listener's Kafka server registers its
// collectors with a listener label, so requests are counted per listener.
func TestListenerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := listen(t), listen(t)
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"}, Logger: quietLogger(), Metrics: reg,
		Listeners: []broker.ListenerConfig{{Name: "A", Protocol: broker.Plaintext, Listener: a}, {Name: "B", Protocol: broker.Plaintext, Listener: b}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	rawRequest(t, b.Addr().String(), kmsg.NewPtrApiVersionsRequest())
	rawRequest(t, b.Addr().String(), kmsg.NewPtrApiVersionsRequest())
	rawRequest(t, a.Addr().String(), kmsg.NewPtrApiVersionsRequest())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "runnel_kafka_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "listener" {
					got[lp.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	if got["A"] != 1 || got["B"] != 2 {
		t.Fatalf("requests by listener %v, want A:1 B:2", got)
	}
}
