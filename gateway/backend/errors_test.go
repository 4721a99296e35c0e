package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestErrorMapping checks every row the REST API relies on, including codes
// the in-process brokers never send (NOT_ENOUGH_REPLICAS: followers do not
// replicate yet).
func TestErrorMapping(t *testing.T) {
	msg := "the broker's own words"
	unreadable := &event.UnreadableError{Topic: "t", Partition: 1, From: 120, To: 200, Cause: kerr.CorruptMessage}
	cases := []struct {
		err    error
		sc     scope
		status int
		code   string
		text   string // the message must contain it
	}{
		{kerr.UnknownTopicOrPartition, topicScope("t"), 404, apierr.CodeTopicNotFound, `topic "t" does not exist`},
		{kerr.UnknownTopicOrPartition, scope{"t", 3}, 404, apierr.CodePartitionNotFound, `topic "t" has no partition 3`},
		{kerr.TopicAlreadyExists, topicScope("t"), 409, apierr.CodeTopicExists, `"t" already exists`},
		{&kafkaError{kerr.InvalidPartitions, msg}, topicScope("t"), 409, apierr.CodeConflict, msg},
		{&kafkaError{kerr.InvalidTopicException, msg}, topicScope("t"), 400, apierr.CodeInvalidRequest, msg},
		{&kafkaError{kerr.InvalidConfig, msg}, topicScope("t"), 400, apierr.CodeInvalidRequest, msg},
		{&kafkaError{kerr.InvalidReplicationFactor, msg}, topicScope("t"), 400, apierr.CodeInvalidRequest, msg},
		{&kafkaError{kerr.InvalidRequest, msg}, topicScope("t"), 400, apierr.CodeInvalidRequest, msg},
		{kerr.InvalidRequest, topicScope("t"), 400, apierr.CodeInvalidRequest, kerr.InvalidRequest.Description},
		{kerr.MessageTooLarge, scope{"t", 0}, 413, apierr.CodeTooLarge, "max.message.bytes"},
		{kerr.RecordListTooLarge, scope{"t", 0}, 413, apierr.CodeTooLarge, "max.message.bytes"},
		{fmt.Errorf("fetch: %w", &event.OffsetOutOfRangeError{Topic: "t", Partition: 1, Offset: 99, LogStartOffset: 5, HighWatermark: 42}),
			scope{"t", 1}, 416, apierr.CodeOffsetOutOfRange, "[5, 42]"},
		{kerr.NotLeaderForPartition, scope{"t", 0}, 503, apierr.CodeUnavailable, "retry"},
		{kerr.LeaderNotAvailable, scope{"t", 0}, 503, apierr.CodeUnavailable, "retry"},
		{kerr.NotEnoughReplicas, scope{"t", 0}, 503, apierr.CodeUnavailable, "retry"},
		{kerr.RequestTimedOut, scope{"t", 0}, 503, apierr.CodeUnavailable, "retry"},
		{&kafkaError{kerr.KafkaStorageError, "write /data/t-2/00000000000000000000.log: no space left on device"}, scope{"t", 2},
			507, apierr.CodeInsufficientStorage, `partition 2 of topic "t" cannot store events`},
		{kerr.KafkaStorageError, topicScope("t"), 507, apierr.CodeInsufficientStorage, `topic "t" cannot store events`},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, scope{"t", 0}, 503, apierr.CodeUnavailable, "no broker answered"},
		{fmt.Errorf("wrapped: %w", syscall.ECONNRESET), scope{"t", 0}, 503, apierr.CodeUnavailable, "no broker answered"},
		{context.DeadlineExceeded, scope{"t", 0}, 503, apierr.CodeUnavailable, "in time"},
		{ErrClosed, scope{}, 503, apierr.CodeUnavailable, "shutting down"},
		{fmt.Errorf("fetch: %w", unreadable), scope{"t", 1}, 410, apierr.CodeDataUnreadable,
			`offsets 120 to 199 of partition 1 of topic "t" cannot be read`},
		{kerr.UnknownServerError, scope{}, 500, apierr.CodeInternal, "see the gateway's log"},
		{errors.New("surprise"), scope{}, 500, apierr.CodeInternal, "see the gateway's log"},
	}
	for _, c := range cases {
		err := apiError(c.err, c.sc)
		var ae *apierr.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%v: got %T", c.err, err)
		}
		if ae.Status != c.status || ae.Code != c.code || !contains(ae.Message, c.text) {
			t.Errorf("%v: %d %s %q, want %d %s containing %q", c.err, ae.Status, ae.Code, ae.Message, c.status, c.code, c.text)
		}
		if (ae.Status == 503) != (ae.RetryAfter == time.Second) || (ae.Status == 507) != (ae.RetryAfter == storageRetryAfter) {
			t.Errorf("%v: Retry-After %v with status %d", c.err, ae.RetryAfter, ae.Status)
		}
		if contains(ae.Message, "/data/") {
			t.Errorf("%v: the broker's file names reach the client: %q", c.err, ae.Message)
		}
		if !errors.Is(ae, c.err) && ae.Err == nil {
			t.Errorf("%v: the cause is lost", c.err)
		}
	}
	ae := apierr.As(apiError(&event.OffsetOutOfRangeError{LogStartOffset: 5, HighWatermark: 42}, scope{"t", 0}))
	if ae.Extra["log_start_offset"] != int64(5) || ae.Extra["high_watermark"] != int64(42) {
		t.Errorf("416 extra: %v", ae.Extra)
	}
	ae = apierr.As(apiError(fmt.Errorf("fetch: %w", unreadable), scope{"t", 1}))
	if ae.Extra["unreadable_from"] != int64(120) || ae.Extra["next_offset"] != int64(200) {
		t.Errorf("410 extra: %v", ae.Extra)
	}
	if retriable(unreadable) {
		t.Error("damaged stored data is retriable")
	}
	if apiError(nil, scope{}) != nil {
		t.Error("nil error mapped to an error")
	}
	own := apierr.Invalid("mine")
	if apiError(own, scope{}) != own {
		t.Error("an *apierr.Error was not passed through")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestUnavailable stops the only broker: every call is a 503 with
// Retry-After; after a restart everything works again.
func TestUnavailable(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 1, nil)
	// Topic metadata stays cached, so that the calls get as far as the
	// broker they would write to or read from.
	b := newBackend(t, c, func(cfg *Config) { cfg.ProduceTimeout, cfg.MetadataMaxAge = 3*time.Second, time.Minute })
	ctx := testCtx(t)
	if _, err := b.Produce(ctx, "t", AcksAll, values(3, 0, "v"), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)

	calls := map[string]func() error{
		"ready": func() error { return b.Ready(ctx) },
		"fetch": func() error { _, err := b.Fetch(ctx, "t", 0, 0, FetchOptions{}); return err },
		"produce acks=all": func() error {
			_, err := b.Produce(ctx, "t", AcksAll, values(1, 0, "down"), "")
			return err
		},
		"produce with key": func() error {
			_, err := b.Produce(ctx, "t", AcksLeader, values(1, 0, "down"), "k")
			return err
		},
		"offsets": func() error { _, err := b.Offsets(ctx, "t", nil); return err },
		"list":    func() error { _, err := b.ListTopics(ctx); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		ae := wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
		if ae.RetryAfterSeconds() != 1 {
			t.Errorf("%s: Retry-After %v", name, ae.RetryAfter)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("%s took %v to give up", name, d)
		}
		t.Logf("%s after %v: %v", name, time.Since(start).Round(time.Millisecond), err)
	}

	c.Restart(0)
	c.WaitForBrokers(1)
	// The gateway's connections back off after failures: give them a moment.
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error { return b.Ready(ctx) })
	var res []Result
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		res, err = b.Produce(ctx, "t", AcksAll, values(1, 0, "up"), "")
		if err != nil && apierr.As(err).Status != http.StatusServiceUnavailable {
			t.Fatalf("produce after the restart: %v", err)
		}
		return err
	})
	recs := readAll(t, b, "t", 0, 0)
	if last := recs[len(recs)-1]; string(last.Value) != "up0" || last.Offset != res[0].Offset {
		t.Fatalf("after restart: last record %q at %d, produced at %d", last.Value, last.Offset, res[0].Offset)
	}

	b.Close()
	_, err := b.Produce(ctx, "t", AcksAll, values(1, 0, "closed"), "")
	wantAPIError(t, err, http.StatusServiceUnavailable, apierr.CodeUnavailable)
}
