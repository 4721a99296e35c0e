package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestBrokerSASLWithRunnelTokens runs "runnel broker --sasl-mechanisms
// OAUTHBEARER" and connects franz-go clients with tokens minted by
// "runnel token": the admin token creates topics, a token for topic a sees
// and writes a only, and a client without a token gets nothing.
func TestBrokerSASLWithRunnelTokens(t *testing.T) {
	kafka, raft := freePort(t), freePort(t)
	startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", filepath.Join(t.TempDir(), "n1"),
		"--sasl-mechanisms", "OAUTHBEARER,SCRAM-SHA-512", "--jwt-secret", tokenTestSecret, "--super-users", "User:gateway")
	token := func(args ...string) string {
		return mintedToken(t, runnel(t, nil, append([]string{"token", "--secret", tokenTestSecret, "--ttl", "10m"}, args...)...))
	}
	client := func(tok string) *kgo.Client {
		opts := []kgo.Opt{kgo.SeedBrokers(kafka), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}
		if tok != "" {
			opts = append(opts, kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	root := kadm.NewClient(client(token("--sub", "root", "--admin")))
	var created kadm.CreateTopicResponses
	var err error
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if created, err = root.CreateTopics(ctx, 1, 1, nil, "a", "b"); err == nil && created.Error() == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("admin creates a and b: %v %v", err, created.Error())
		}
	}

	app := client(token("--sub", "app", "--produce", "a", "--consume", "a"))
	adm := kadm.NewClient(app)
	var names []string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if names = td.Names(); slices.Contains(names, "a") || time.Now().After(end) {
			break
		}
	}
	if !slices.Equal(names, []string{"a"}) {
		t.Fatalf("app lists %v, want only a", names)
	}
	if err := app.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("app produces to a: %v", err)
	}
	if err := app.ProduceSync(ctx, &kgo.Record{Topic: "b", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("app produces to b: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := client("").Ping(ctx); err == nil {
		t.Fatal("a client without a token pinged the SASL listener")
	}

	// A gateway reaches the broker with its own SCRAM credential (a super
	// user) and enforces the client's token itself.
	if res, err := root.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "gateway", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "gw-pw"}}); err != nil || res["gateway"].Err != nil {
		t.Fatalf("create the gateway's SCRAM user: %v %+v", err, res)
	}
	gw := startGatewayProc(t, kafka, tokenTestSecret, "--broker-sasl-mechanism", "SCRAM-SHA-512", "--broker-sasl-user", "gateway", "--broker-sasl-password", "gw-pw")
	appToken := token("--sub", "app", "--produce", "a", "--consume", "a")
	if code, body := gw.call(appToken, "POST", "/v1/topics/a/events", "", `{"value":{"ok":true}}`); code != 200 {
		t.Fatalf("gateway produce to a: %d %s", code, body)
	}
	if code, body := gw.call(appToken, "POST", "/v1/topics/b/events", "", `{"value":{"ok":true}}`); code != 403 {
		t.Fatalf("gateway produce to b: %d %s, want 403", code, body)
	}

	// SCRAM users managed over REST log in over the Kafka port.
	adminToken := token("--sub", "ops", "--admin")
	if code, body := gw.call(adminToken, "PUT", "/v1/admin/scram-users/bob/SCRAM-SHA-512", "", `{"password":"bob-pw"}`); code != 204 {
		t.Fatalf("REST set bob's password: %d %s", code, body)
	}
	if code, body := gw.call(adminToken, "GET", "/v1/admin/scram-users", "", ""); code != 200 || !strings.Contains(body, `"name":"bob"`) || !strings.Contains(body, `"name":"gateway"`) {
		t.Fatalf("REST list users: %d %s", code, body)
	}
	bob, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism()), kgo.RequestRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob logs in with SCRAM-SHA-512: %v", err)
	}
	if code, body := gw.call(adminToken, "DELETE", "/v1/admin/scram-users/bob/SCRAM-SHA-512", "", ""); code != 204 {
		t.Fatalf("REST delete bob: %d %s", code, body)
	}
}
