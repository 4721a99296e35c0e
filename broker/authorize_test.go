package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testtoken"
)

var authzSecret = []byte("authorization-test-secret-0123456789")

// startSASLBroker starts a broker whose listener takes OAUTHBEARER tokens
// signed with authzSecret, with topics a and b (2 partitions each).
func startSASLBroker(t *testing.T, maxReauth time.Duration) *brokertest.Broker {
	t.Helper()
	return startTokenBroker(t, brokertest.Options{AutoCreateTopics: true}, maxReauth)
}

// startTokenBroker is startSASLBroker with more options.
func startTokenBroker(t *testing.T, opts brokertest.Options, maxReauth time.Duration) *brokertest.Broker {
	t.Helper()
	opts.SASL = &kafkaserver.SASLConfig{Mechanisms: []kafkaserver.Mechanism{oauthMechanism(t)}, MaxReauth: maxReauth}
	b := brokertest.StartBroker(t, opts)
	adm := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "root", Admin: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, 2, 1, nil, "a", "b")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("admin creates topics: %v", err)
	}
	return b
}

// oauthMechanism is OAUTHBEARER for tokens signed with authzSecret.
func oauthMechanism(t *testing.T) kafkaserver.Mechanism {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{HS256Secret: authzSecret})
	if err != nil {
		t.Fatal(err)
	}
	mech, err := saslauth.NewOAuthBearer(v)
	if err != nil {
		t.Fatal(err)
	}
	return mech
}

// tokenClient is a franz-go client authenticating with a token of o.
func tokenClient(t *testing.T, b *brokertest.Broker, o auth.MintOptions, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	tok := testtoken.Mint(t, authzSecret, o)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()),
		kgo.RequestRetries(2), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestTokenForTopicACannotTouchTopicB: through the Kafka port, a token
// allowed topic a cannot produce to, fetch from, list, delete or commit
// offsets of topic b, nor administer the cluster, while it uses a.
func TestTokenForTopicACannotTouchTopicB(t *testing.T) {
	b := startSASLBroker(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := tokenClient(t, b, auth.MintOptions{Subject: "app", Produce: []string{"a"}, Consume: []string{"a"}},
		kgo.DefaultProduceTopic("a"), kgo.ProducerLinger(0))

	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Partition: 0, Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("produce to a: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "b", Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to b: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// Produce, fetch and list offsets with one request for both topics:
	// a is served, b refused.
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks, pr.TimeoutMillis = -1, 10000
	for _, topic := range []string{"a", "b"} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = oneBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		pr.Topics = append(pr.Topics, rt)
	}
	presp, err := pr.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := produceCodes(presp); got["a"] != 0 || got["b"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("produce to a and b: codes %v, want a ok and b TOPIC_AUTHORIZATION_FAILED", got)
	}

	// Fetch names topics by id (kgo sends the newest version): the
	// client learns b's id from someone allowed to see it.
	root := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "root", Admin: true}))
	ids, err := root.ListTopics(ctx, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	fr := kmsg.NewPtrFetchRequest()
	fr.MaxWaitMillis, fr.MaxBytes, fr.ReplicaID = 10, 1<<20, -1
	for _, topic := range []string{"a", "b"} {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = topic, ids[topic].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fr.Topics = append(fr.Topics, ft)
	}
	fresp, err := fr.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	fcodes := map[string]int16{}
	for _, rt := range fresp.Topics {
		name := rt.Topic
		for n, d := range ids {
			if d.ID == rt.TopicID {
				name = n
			}
		}
		fcodes[name] = rt.Partitions[0].ErrorCode
		if name == "b" && len(rt.Partitions[0].RecordBatches) > 0 {
			t.Fatal("fetch of b returned records")
		}
	}
	if fcodes["a"] != 0 || fcodes["b"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("fetch of a and b (v%d): codes %v", fresp.Version, fcodes)
	}

	lr := kmsg.NewPtrListOffsetsRequest()
	lr.ReplicaID = -1
	for _, topic := range []string{"a", "b"} {
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
		lr.Topics = append(lr.Topics, lt)
	}
	lresp, err := lr.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	lcodes := map[string]int16{}
	for _, rt := range lresp.Topics {
		lcodes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if lcodes["a"] != 0 || lcodes["b"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("list offsets of a and b: codes %v", lcodes)
	}

	// Metadata lists a only; asking for b by name is refused.
	wantListed(ctx, t, cl, "a")
	adm := kadm.NewClient(cl)
	if td, err := adm.ListTopics(ctx, "b"); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(td["b"].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("metadata for b: %+v, %v; want TOPIC_AUTHORIZATION_FAILED", td["b"], err)
	}

	// Topic administration needs admin.
	dresp, err := adm.DeleteTopics(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if r := dresp["b"]; !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("delete b: %v, want TOPIC_AUTHORIZATION_FAILED", r.Err)
	}
	cresp, err := adm.CreateTopics(ctx, 1, 1, nil, "c")
	if err != nil {
		t.Fatal(err)
	}
	if r := cresp["c"]; !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create c: %v, want TOPIC_AUTHORIZATION_FAILED", r.Err)
	}
	dq := kmsg.NewPtrDescribeLogDirsRequest()
	dq.SetVersion(3)
	if resp, err := dq.RequestWith(ctx, cl.Broker(1)); err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("describe log dirs: %+v, %v; want CLUSTER_AUTHORIZATION_FAILED", resp, err)
	}

	// Offsets: committing for b is refused, for a it goes to the group
	// coordinator (which, over this test's in-memory metadata, has no
	// offsets topic and answers NOT_COORDINATOR).
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = "g1", -1
	for _, topic := range []string{"a", "b"} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		oc.Topics = append(oc.Topics, rt)
	}
	ocresp, err := oc.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	occodes := map[string]int16{}
	for _, rt := range ocresp.Topics {
		occodes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if a, b := occodes["a"], occodes["b"]; a == kerr.TopicAuthorizationFailed.Code || a == kerr.GroupAuthorizationFailed.Code || b != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("commit a, b: codes %v; want a past authorization and b TOPIC_AUTHORIZATION_FAILED", occodes)
	}

	// b is intact, as the admin sees it.
	td, err := root.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !td.Has("b") || !td.Has("a") {
		t.Fatalf("admin sees topics %v, want a and b", td.Names())
	}
	ends, err := root.ListEndOffsets(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("b", 0); o.Offset != 0 {
		t.Fatalf("b partition 0 ends at %d: something was written", o.Offset)
	}
}

func produceCodes(resp *kmsg.ProduceResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.Topics {
		out[t.Topic] = t.Partitions[0].ErrorCode
	}
	return out
}

// wantListed checks that a Metadata request for all topics through cl
// lists exactly want, sorted.
func wantListed(ctx context.Context, t *testing.T, cl *kgo.Client, want ...string) {
	t.Helper()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if names := metadataTopics(resp); !slices.Equal(names, want) {
		t.Fatalf("metadata lists %v, want %v", names, want)
	}
}

func metadataTopics(resp *kmsg.MetadataResponse) []string {
	var names []string
	for _, t := range resp.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	slices.Sort(names)
	return names
}

// TestAutoCreateNeedsProduce: Metadata creates a topic only for a token
// that may produce to it.
func TestAutoCreateNeedsProduce(t *testing.T) {
	b := startSASLBroker(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reader := tokenClient(t, b, auth.MintOptions{Subject: "r", Consume: []string{"auto.*"}})
	writer := tokenClient(t, b, auth.MintOptions{Subject: "w", Produce: []string{"auto.*"}})
	ask := func(cl *kgo.Client, topic string) int16 {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := ask(reader, "auto.r"); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("consume-only token asking for auto.r: code %d, want UNKNOWN_TOPIC_OR_PARTITION (not created)", code)
	}
	if code := ask(writer, "auto.w"); code != 0 && code != kerr.LeaderNotAvailable.Code {
		t.Fatalf("produce token asking for auto.w: code %d, want it created", code)
	}
	if code := ask(reader, "auto.w"); code != 0 && code != kerr.LeaderNotAvailable.Code {
		t.Fatalf("auto.w after creation: code %d", code)
	}
}

// TestUnauthenticatedAPIsCloseTheConnection: on a SASL listener every API
// but ApiVersions and the SASL ones, sent before authenticating, closes
// the connection unanswered.
func TestUnauthenticatedAPIsCloseTheConnection(t *testing.T) {
	b := startSASLBroker(t, 0)
	for key, vr := range broker.APIs() {
		req := kmsg.RequestForKey(key)
		req.SetVersion(vr.Max)
		if resp, err := rawExchange(t, b.Addr(), req); err == nil {
			t.Errorf("%s v%d before authentication answered %+v, want the connection closed", kmsg.NameForKey(key), vr.Max, resp)
		}
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	if resp := rawRequest(t, b.Addr(), av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authentication: error %d", resp.ErrorCode)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "OAUTHBEARER"
	if resp := rawRequest(t, b.Addr(), hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
		t.Fatalf("SaslHandshake before authentication: error %d", resp.ErrorCode)
	}
}

// TestTokenRefreshedAcrossReauthentication: a client whose tokens live two
// seconds keeps working past their expiry by re-authenticating with fresh
// ones (KIP-368); each session ends with its token.
func TestTokenRefreshedAcrossReauthentication(t *testing.T) {
	b := startSASLBroker(t, time.Hour)
	var mints atomic.Int32
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		mints.Add(1)
		m, err := auth.NewSecretMinter(authzSecret)
		if err != nil {
			return oauth.Auth{}, err
		}
		tok, err := m.Mint(auth.MintOptions{Subject: "short", Consume: []string{"a"}, TTL: 2 * time.Second})
		return oauth.Auth{Token: tok}, err
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		wantListed(ctx, t, cl, "a")
	}
	if n := mints.Load(); n < 3 {
		t.Fatalf("%d tokens used in 5s of 2s tokens: the client was not made to re-authenticate", n)
	}
}
