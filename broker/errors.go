package broker

import (
	"context"
	"errors"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	// errNotLeader means this broker does not lead the partition; clients
	// refresh metadata and retry (NOT_LEADER_OR_FOLLOWER).
	errNotLeader = kerr.NotLeaderForPartition
	// errUnknownPartition means no such topic or partition exists.
	errUnknownPartition = kerr.UnknownTopicOrPartition
)

// kafkaErrorTable maps our sentinel errors to Kafka error codes.
var kafkaErrorTable = []struct {
	err  error
	code *kerr.Error
}{
	{commitlog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{commitlog.ErrLogFailed, kerr.KafkaStorageError},
	{commitlog.ErrUnreadable, kerr.CorruptMessage},
	{ErrPartitionRefused, kerr.KafkaStorageError},
	{commitlog.ErrClosed, kerr.NotLeaderForPartition},
	{commitlog.ErrInvalidRequest, kerr.InvalidRequest},
	{commitlog.ErrBadTopicPartition, kerr.InvalidTopicException},
	{recordbatch.ErrTooLarge, kerr.MessageTooLarge},
	{recordbatch.ErrUnknownCodec, kerr.UnsupportedCompressionType},
	{recordbatch.ErrInvalidRecordCount, kerr.InvalidRecord},
	{recordbatch.ErrInvalidRecord, kerr.InvalidRecord},
	{recordbatch.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{recordbatch.ErrCorrupt, kerr.CorruptMessage},
	{recordbatch.ErrTruncated, kerr.CorruptMessage},
	{recordbatch.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrInvalidTopicName, kerr.InvalidTopicException},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metadata.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{metadata.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{metadata.ErrInvalidReplicas, kerr.InvalidReplicaAssignment},
	{metadata.ErrInvalidConfig, kerr.InvalidConfig},
	{metadata.ErrFencedRemoteUpload, kerr.FencedLeaderEpoch},
	{metadata.ErrInvalidScramCredential, kerr.UnacceptableCredential},
	{metadata.ErrUnknownScramCredential, kerr.ResourceNotFound},
	{metadata.ErrInvalidACL, kerr.InvalidRequest},
	{metadata.ErrUnknownACL, kerr.InvalidRequest},
	{controller.ErrInvalidRequest, kerr.InvalidRequest},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},
}

// errorCode returns the Kafka error code for err (0 for nil).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range kafkaErrorTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns a message for a response's ErrorMessage field.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
