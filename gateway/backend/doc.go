// Package backend is the gateway's way into the cluster: it produces,
// fetches, lists offsets and administers topics over the Kafka protocol with
// franz-go (kgo for produce, raw Fetch requests to partition leaders for
// reads, kadm for admin), following Metadata to partition leaders. It keeps
// no state that a restart or a second gateway would lose.
//
// Every error it returns for something the client did or can retry is an
// *apierr.Error with the status and code the REST API sends (404
// topic_not_found, 416 offset_out_of_range with both bounds, 409
// topic_exists, 503 unavailable with Retry-After, ...).
package backend
