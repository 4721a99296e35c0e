package broker_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// startSCRAMBroker is startSASLBroker that also offers SCRAM-SHA-256 and
// SCRAM-SHA-512 with the users stored in the metadata; User:root is a
// super user.
func startSCRAMBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	return startTokenBroker(t, brokertest.Options{
		SCRAM:      []string{saslauth.SCRAMSHA256, saslauth.SCRAMSHA512},
		SuperUsers: []string{"User:root"},
	}, 0)
}

func scramClient(t *testing.T, b *brokertest.Broker, mech sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.SASL(mech), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestScramUsersThroughTheKafkaAPI: an admin manages SCRAM users with
// AlterUserScramCredentials and DescribeUserScramCredentials; the users
// authenticate with franz-go and kcat; a super user may do everything, any
// other SCRAM user nothing; a deleted credential no longer authenticates.
func TestScramUsersThroughTheKafkaAPI(t *testing.T) {
	b := startSCRAMBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "admin", Admin: true}))

	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"},
		{User: "root", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "root-pw"},
		{User: "root", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "root-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("alter %s: %v", a.User, a.Err)
		}
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := described["alice"]; d.Err != nil || len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha512 || d.CredInfos[0].Iterations != 4096 {
		t.Fatalf("alice described as %+v", d)
	}
	if d := described["root"]; len(d.CredInfos) != 2 {
		t.Fatalf("root described as %+v", d)
	}

	// Refusals, per user: too few iterations, a missing credential.
	raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "weak", 1, 1000, []byte("salt"), make([]byte, 32)
	raw.Upsertions = append(raw.Upsertions, up)
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "ghost", 2
	raw.Deletions = append(raw.Deletions, del)
	rresp, err := raw.RequestWith(ctx, tokenClient(t, b, auth.MintOptions{Subject: "admin", Admin: true}))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range rresp.Results {
		codes[r.User] = r.ErrorCode
	}
	if codes["weak"] != kerr.UnacceptableCredential.Code || codes["ghost"] != kerr.ResourceNotFound.Code {
		t.Fatalf("refusals: %v, want weak UNACCEPTABLE_CREDENTIAL and ghost RESOURCE_NOT_FOUND", codes)
	}

	// A token that is not an admin's may not manage users.
	app := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "app", Consume: []string{"a"}}))
	if res, err := app.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "x", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "p"}}); err == nil && !errors.Is(res["x"].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("non-admin alter: %+v", res)
	}

	// The super user sees everything; alice nothing and may write nothing.
	root := kadm.NewClient(scramClient(t, b, scram.Auth{User: "root", Pass: "root-pw"}.AsSha256Mechanism()))
	td, err := root.ListTopics(ctx)
	if err != nil || !td.Has("a") || !td.Has("b") {
		t.Fatalf("root lists %v, %v", td.Names(), err)
	}
	alice := scramClient(t, b, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism())
	wantListed(ctx, t, alice) // no ACL: nothing
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := metadataErr(ctx, t, b, scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}

	// kcat (librdkafka) with SCRAM-SHA-512 as the super user.
	out := kcat(t, nil, "-b", b.Addr(), "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=root", "-X", "sasl.password=root-pw", "-L")
	if !strings.Contains(out, `topic "a"`) || !strings.Contains(out, `topic "b"`) {
		t.Fatalf("kcat -L as root:\n%s", out)
	}

	// Deleting alice's credential ends her logins.
	if res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}}, nil); err != nil || res["alice"].Err != nil {
		t.Fatalf("delete alice: %v %+v", err, res)
	}
	if err := metadataErr(ctx, t, b, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("alice after deletion: %v", err)
	}
	described, err = adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := slices.Sorted(maps.Keys(described)); !slices.Equal(names, []string{"root"}) {
		t.Fatalf("users after deleting alice: %v", names)
	}
}

func metadataErr(ctx context.Context, t *testing.T, b *brokertest.Broker, mech sasl.Mechanism) error {
	t.Helper()
	_, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, scramClient(t, b, mech))
	return err
}
