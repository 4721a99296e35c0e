package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/saslauth"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testtoken"
)

// TestReplicationOverSASL: followers fetch from their leaders' SASL
// listeners with their own SCRAM credential (a super user): an acks=all
// produce to a topic that needs both replicas in sync commits.
func TestReplicationOverSASL(t *testing.T) {
	c := brokertest.Start(t, 2, brokertest.Options{
		MinInsyncReplicas: 2,
		SASL:              &kafkaserver.SASLConfig{Mechanisms: []kafkaserver.Mechanism{oauthMechanism(t)}},
		SCRAM:             []string{saslauth.SCRAMSHA512},
		SuperUsers:        []string{"User:peer"},
		PeerSASL:          scram.Auth{User: "peer", Pass: "peer-pw"}.AsSha512Mechanism(),
	})
	tok := testtoken.Mint(t, authzSecret, auth.MintOptions{Subject: "root", Admin: true})
	// Not idempotent, with a delivery timeout: without replication the
	// produce fails in time instead of waiting for its outcome.
	cl := c.Client(kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.ProducerLinger(0), kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(20*time.Second))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "peer", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "peer-pw"}}); err != nil || res["peer"].Err != nil {
		t.Fatalf("create the peers' user: %v %+v", err, res)
	}
	if res, err := adm.CreateTopics(ctx, 2, 2, nil, "replicated"); err != nil || res.Error() != nil {
		t.Fatalf("create topic: %v %v", err, res.Error())
	}
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "replicated", Partition: int32(i % 2), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d with min.insync.replicas=2: %v", i, err)
		}
	}
}
