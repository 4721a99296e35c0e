// Package kafkaext holds Runnel's additions to the Kafka protocol: values that
// travel in places Kafka clients already skip (tagged fields of flexible
// request and response versions), so that kcat, franz-go and librdkafka see
// plain Kafka while Runnel's own gateway reads more.
//
// It is a leaf package: brokers write these values and gateways read them,
// and neither side drags the other's storage or HTTP code along.
package kafkaext
