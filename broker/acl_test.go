package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// TestAclsForScramUsers: ACLs created with CreateAcls decide what a SCRAM
// user may do, at once on its open connection; DescribeAcls lists them and
// DeleteAcls takes them back; only admins manage them.
func TestAclsForScramUsers(t *testing.T) {
	b := startSCRAMBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "admin", Admin: true}))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pw"}}); err != nil {
		t.Fatal(err)
	}
	alice := scramClient(t, b, scram.Auth{User: "alice", Pass: "pw"}.AsSha512Mechanism(), kgo.ProducerLinger(0))
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice before ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("a").
		Operations(kadm.OpWrite, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range created {
		if c.Err != nil {
			t.Fatalf("create ACL: %v", c.Err)
		}
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("alice produces to a with WRITE: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "b", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to b: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	wantListed(ctx, t, alice, "a") // DESCRIBE is implied by READ

	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().AnyResource().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range described {
		n += len(d.Described)
	}
	if n != 2 {
		t.Fatalf("described %d ACLs of alice, want 2: %+v", n, described)
	}

	// An ACL for another host does not apply; one for the client's does.
	for _, host := range []string{"10.9.9.9", "127.0.0.1"} {
		if _, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts(host).Topics("b").
			Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil {
			t.Fatal(err)
		}
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "b", Value: []byte("x")}).FirstErr()
		if host == "10.9.9.9" && !errors.Is(err, kerr.TopicAuthorizationFailed) || host == "127.0.0.1" && err != nil {
			t.Fatalf("alice produces to b with WRITE for host %s: %v", host, err)
		}
	}

	// A DENY wins over the ALLOW.
	if _, err := adm.CreateACLs(ctx, kadm.NewACLs().Deny("User:*").DenyHosts("*").Topics("a").
		Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil {
		t.Fatal(err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to a under a DENY: %v", err)
	}

	// Only admins manage ACLs.
	app := kadm.NewClient(tokenClient(t, b, auth.MintOptions{Subject: "app", Consume: []string{"a"}}))
	res, err := app.CreateACLs(ctx, kadm.NewACLs().Allow("User:app").AllowHosts("*").Clusters().Operations(kadm.OpAll))
	if err == nil && (len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed)) {
		t.Fatalf("non-admin CreateAcls: %+v", res)
	}

	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Deny("User:*").DenyHosts().AnyResource().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	for _, d := range deleted {
		n += len(d.Deleted)
	}
	if n != 5 {
		t.Fatalf("deleted %d ACLs, want 5: %+v", n, deleted)
	}
	wantListed(ctx, t, alice) // the ACLs are gone
}
