package event

// Header is one event header. Values are bytes; the REST API only carries
// strings, but events written by Kafka clients may hold anything. A nil
// Value is Kafka's null.
type Header struct {
	Key   string
	Value []byte
}

// Event is one event to produce.
type Event struct {
	// Partition is the partition the client named, or -1 to let the key
	// choose it (murmur2, as Kafka's Java client does) or, without a key,
	// to spread events evenly.
	Partition int32
	// Key is nil for a null key; an empty non-nil slice is the empty key.
	Key []byte
	// Value is the stored bytes: the JSON text of "value", or the decoded
	// bytes of "value_b64". nil is a null value (a tombstone).
	Value   []byte
	Headers []Header
	// Timestamp in milliseconds since the Unix epoch; 0 means now.
	Timestamp int64
}

// Record is one stored event, as read back.
//
// Records that a read hands on may be shared (package fanout gives the same
// Record to every subscriber of a partition): their byte slices must be
// treated as read-only.
type Record struct {
	Partition int32
	Offset    int64
	Timestamp int64  // milliseconds since the Unix epoch
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value
	Headers   []Header
}

// Batch is the answer to one read of a partition.
type Batch struct {
	// Records are in offset order, all at or after the requested offset.
	// Offsets need not be dense: compaction and transaction markers leave
	// holes.
	Records []Record
	// NextOffset is where the next read continues: past the last record,
	// or further when the read skipped records that are not events
	// (control batches). It is never below the requested offset.
	NextOffset int64
	// HighWatermark is the partition's high watermark when the read was
	// answered: the offset after the last readable record.
	HighWatermark int64
	// LogStartOffset is the first offset still in the log.
	LogStartOffset int64
	// TopicID is the ID of the topic the read was answered from (Kafka's
	// topic ID: a topic deleted and created again under its name has a
	// new one), or zero when the source does not say.
	TopicID [16]byte
}
