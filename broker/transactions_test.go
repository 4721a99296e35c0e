package broker_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionalProducersFail checks that transactional producers fail
// with an error that says transactions are not supported: franz-go with a
// transactional id at once (with COORDINATOR_NOT_AVAILABLE it retried until
// its context ended), and kcat (librdkafka) with transactional.id when its
// init_transactions gives up (librdkafka retries every FindCoordinator error
// but authorization ones; its eos debug log shows the broker's message). The
// raw answers carry the message too.
func TestTransactionalProducersFail(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	addr := c.Addrs()[0]
	c.CreateTopic("txn", 1, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("txn-franz"), kgo.DefaultProduceTopic("txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	err = cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr()
	}
	t.Logf("franz-go after %v: %v", time.Since(start), err)
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("franz-go transactional produce: %v, want UNSUPPORTED_VERSION", err)
	}

	kc := exec.CommandContext(ctx, "kcat", "-b", addr, "-P", "-t", "txn", "-X", "transactional.id=txn-kcat", "-d", "eos")
	kc.Stdin = strings.NewReader("v\n")
	var stderr bytes.Buffer
	kc.Stderr = &stderr
	start = time.Now()
	err = kc.Run()
	t.Logf("kcat after %v: %v", time.Since(start), err)
	if err == nil || ctx.Err() != nil || !strings.Contains(stderr.String(), "init_transactions") ||
		!strings.Contains(stderr.String(), "transactions are not supported") {
		t.Fatalf("kcat with transactional.id: %v (context: %v); stderr:\n%s", err, ctx.Err(), stderr.String())
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"txn-raw"}
	fcr, err := fc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if co := fcr.Coordinators[0]; co.ErrorCode != kerr.UnsupportedVersion.Code || co.ErrorMessage == nil ||
		!strings.Contains(*co.ErrorMessage, "transactions are not supported") {
		t.Fatalf("FindCoordinator for a transactional id: %v %v", kerr.ErrorForCode(co.ErrorCode), co.ErrorMessage)
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{Transactional: true, Producer: &recordbatch.Producer{ID: 1}},
		[]recordbatch.Record{{Value: []byte("t"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	rp := newRawKafka(c).produce(t, 9, "txn", 0, b)
	if rp.ErrorCode != kerr.UnsupportedVersion.Code || rp.ErrorMessage == nil || !strings.Contains(*rp.ErrorMessage, "transactions are not supported") {
		t.Fatalf("transactional batch: %v %v", kerr.ErrorForCode(rp.ErrorCode), rp.ErrorMessage)
	}
}
