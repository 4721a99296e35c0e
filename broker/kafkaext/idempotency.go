package kafkaext

// IdempotencyKeyHeader is the record header by which a gateway tells a
// partition leader that a produce carries an HTTP Idempotency-Key. The
// gateway sends such a produce as one uncompressed batch per partition whose
// first record holds this header, its value derived from the key; the
// leader (broker/idemwindow) answers a batch whose value it has seen with
// the offsets of the first append and writes nothing. Kafka clients see an
// ordinary header on the stored record.
const IdempotencyKeyHeader = "runnel-idempotency-key"
