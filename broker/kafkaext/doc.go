// Package kafkaext holds Runnel's additions to the Kafka protocol: values that
// travel in places Kafka clients already skip (tagged fields of flexible
// request and response versions) or take as ordinary data (a record header),
// so that kcat, franz-go and librdkafka see plain Kafka while Runnel's
// brokers and gateways read more.
//
// It is a leaf package: brokers and gateways both import it (a broker writes
// an unreadable range and a gateway reads it; a gateway writes the
// idempotency header and a broker reads it), and neither side drags the
// other's storage or HTTP code along.
package kafkaext
