package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("backend: closed")

// retryAfter is the Retry-After of every 503.
const retryAfter = time.Second

// storageRetryAfter is the Retry-After of a 507: a full disk takes an
// operator to clear, so retrying every second would only fill logs.
const storageRetryAfter = 5 * time.Second

// kafkaError is a Kafka error code with the broker's message for it, as
// admin responses carry.
type kafkaError struct {
	err *kerr.Error
	msg string
}

func (e *kafkaError) Error() string {
	if e.msg == "" {
		return e.err.Error()
	}
	return e.err.Error() + ": " + e.msg
}

func (e *kafkaError) Unwrap() error { return e.err }

// withMessage attaches the broker's message to a Kafka error; other errors
// and empty messages pass through.
func withMessage(err error, msg *string) error {
	var ke *kerr.Error
	if err == nil || msg == nil || *msg == "" || !errors.As(err, &ke) {
		return err
	}
	return &kafkaError{err: ke, msg: *msg}
}

// scope is what a failed call was about, to name what is missing.
type scope struct {
	topic     string
	partition int32 // -1 when the call was not about one partition
}

func topicScope(topic string) scope { return scope{topic: topic, partition: -1} }

// errorTable maps Kafka error codes to what the client sees. It is the one
// place where that mapping lives; apiError applies it.
var errorTable = []struct {
	err    *kerr.Error
	status int
	code   string
}{
	{kerr.UnknownTopicOrPartition, http.StatusNotFound, apierr.CodeTopicNotFound}, // partition_not_found when a partition was named
	{kerr.UnknownTopicID, http.StatusNotFound, apierr.CodeTopicNotFound},
	{kerr.TopicAlreadyExists, http.StatusConflict, apierr.CodeTopicExists},
	{kerr.InvalidPartitions, http.StatusConflict, apierr.CodeConflict},
	{kerr.InvalidTopicException, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidConfig, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidReplicationFactor, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidReplicaAssignment, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidRequest, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.PolicyViolation, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidTimestamp, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.InvalidRecord, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.MessageTooLarge, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge},
	{kerr.RecordListTooLarge, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge},
	{kerr.OffsetOutOfRange, http.StatusRequestedRangeNotSatisfiable, apierr.CodeOffsetOutOfRange},
	{kerr.NotLeaderForPartition, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.LeaderNotAvailable, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.NotEnoughReplicas, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.NotEnoughReplicasAfterAppend, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.RequestTimedOut, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.FencedLeaderEpoch, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.UnknownLeaderEpoch, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.ReplicaNotAvailable, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.BrokerNotAvailable, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.KafkaStorageError, http.StatusInsufficientStorage, apierr.CodeInsufficientStorage},
	{kerr.NotController, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.NetworkException, http.StatusServiceUnavailable, apierr.CodeUnavailable},
	{kerr.ResourceNotFound, http.StatusNotFound, apierr.CodeNotFound},
	{kerr.UnacceptableCredential, http.StatusBadRequest, apierr.CodeInvalidRequest},
	{kerr.UnsupportedSaslMechanism, http.StatusBadRequest, apierr.CodeInvalidRequest},
}

// apiError turns err into the *apierr.Error the client gets. Errors that are
// already *apierr.Error pass through; a Kafka code takes its row of
// errorTable; an unreachable broker, a closed connection or a timeout is 503;
// anything else is a 500 whose cause stays in the log.
func apiError(err error, sc scope) error {
	if err == nil {
		return nil
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ue *event.UnreadableError
	if errors.As(err, &ue) {
		return unreadable(ue)
	}
	var ke *kerr.Error
	if errors.Is(err, event.ErrTopicGone) {
		ke = kerr.UnknownTopicOrPartition
	}
	if errors.Is(err, event.ErrOffsetOutOfRange) {
		ke = kerr.OffsetOutOfRange
	}
	if ke != nil || errors.As(err, &ke) {
		for _, row := range errorTable {
			if row.err.Code == ke.Code {
				return tableError(row.status, row.code, ke, err, sc)
			}
		}
		if ke.Retriable {
			return unavailable(err, "the cluster cannot serve this now (%s)", ke.Message)
		}
		return &apierr.Error{Status: http.StatusInternalServerError, Code: apierr.CodeInternal,
			Message: "the cluster refused the request; see the gateway's log", Err: err}
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, kgo.ErrClientClosed) {
		return unavailable(err, "the gateway is shutting down")
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrRecordTimeout) {
		return unavailable(err, "the cluster did not answer in time")
	}
	if unreachable(err) {
		return unavailable(err, "no broker answered")
	}
	if errors.Is(err, context.Canceled) {
		return unavailable(err, "the request was canceled")
	}
	return &apierr.Error{Status: http.StatusInternalServerError, Code: apierr.CodeInternal,
		Message: "internal error; see the gateway's log", Err: err}
}

func tableError(status int, code string, ke *kerr.Error, err error, sc scope) error {
	var msg string
	var km *kafkaError
	if errors.As(err, &km) && km.msg != "" {
		msg = km.msg
	}
	e := &apierr.Error{Status: status, Code: code, Err: err}
	switch status {
	case http.StatusNotFound:
		if sc.partition >= 0 {
			e.Code = apierr.CodePartitionNotFound
			e.Message = fmt.Sprintf("topic %q has no partition %d", sc.topic, sc.partition)
		} else {
			e.Message = fmt.Sprintf("topic %q does not exist", sc.topic)
		}
	case http.StatusConflict:
		if code == apierr.CodeTopicExists {
			e.Message = fmt.Sprintf("topic %q already exists", sc.topic)
		} else {
			e.Message = orDefault(msg, ke.Description)
		}
	case http.StatusRequestEntityTooLarge:
		e.Message = "the events are larger than the topic accepts (max.message.bytes)"
		if msg != "" {
			e.Message += ": " + msg
		}
	case http.StatusRequestedRangeNotSatisfiable:
		e.Message = "the offset is outside the partition's readable range"
		var oor *event.OffsetOutOfRangeError
		if errors.As(err, &oor) {
			e.Message = fmt.Sprintf("offset %d of %s/%d is outside the readable range [%d, %d]",
				oor.Offset, oor.Topic, oor.Partition, oor.LogStartOffset, oor.HighWatermark)
			e.Extra = map[string]any{"log_start_offset": oor.LogStartOffset, "high_watermark": oor.HighWatermark}
		}
	case http.StatusServiceUnavailable:
		e.Message = fmt.Sprintf("the cluster cannot serve this now (%s); retry", ke.Message)
		e.RetryAfter = retryAfter
	case http.StatusInsufficientStorage:
		where := fmt.Sprintf("topic %q", sc.topic)
		if sc.partition >= 0 {
			where = fmt.Sprintf("partition %d of topic %q", sc.partition, sc.topic)
		}
		// The broker's own message names its files: it goes to the log
		// (with e.Err), not to the client.
		e.Message = fmt.Sprintf("the broker leading %s cannot store events: its log storage failed (%s: disk full or failing); retry once there is room again", where, ke.Message)
		e.RetryAfter = storageRetryAfter
	default:
		e.Message = orDefault(msg, ke.Description)
	}
	return e
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func unavailable(err error, format string, args ...any) *apierr.Error {
	e := apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, format+"; retry", args...)
	e.RetryAfter, e.Err = retryAfter, err
	return e
}

// unreachable reports whether err says a broker could not be reached or
// dropped the connection.
func unreachable(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, kgo.ErrRecordRetries)
}

// retriable reports whether a produce that failed with err may be sent again
// as it is, within the same request: the broker did not take it, or takes a
// retry as a duplicate. A broker whose storage failed (KAFKA_STORAGE_ERROR,
// retriable to Kafka clients) will not take it again for some time: the
// request answers 507 at once instead. Too few in-sync replicas
// (NOT_ENOUGH_REPLICAS[_AFTER_APPEND]) last until a replica catches up or
// the ISR changes, which takes seconds: the request answers 503 with
// Retry-After at once rather than spend the client's whole timeout.
func retriable(err error) bool {
	if errors.Is(err, event.ErrUnreadable) {
		return false // stored data that is damaged stays damaged
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable && ke != kerr.KafkaStorageError && ke != kerr.NotEnoughReplicas && ke != kerr.NotEnoughReplicasAfterAppend
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, ErrClosed) {
		return false
	}
	return true // transport trouble: a dead connection, an unknown broker
}
