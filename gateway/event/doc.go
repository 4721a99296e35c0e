// Package event is the gateway's vocabulary for events: an Event to
// produce, a Record read back from a partition, their Header, a Batch of
// records as one read returns it, and the errors of a read that every layer
// passes on (an offset outside the log, stored data that cannot be read).
//
// It is a leaf: eventjson turns these into JSON and back, backend produces
// and fetches them over the Kafka protocol, fanout shares them among
// subscribers, and httpapi and wsapi hand them to clients, all without a
// copy into another layer's types.
package event
