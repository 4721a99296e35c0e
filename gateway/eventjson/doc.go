// Package eventjson converts events between Runnel's JSON form (API.md,
// "Events") and their stored bytes, for REST and WebSocket alike.
//
// On write an event is {"key", "value" | "value_b64", "headers",
// "timestamp", "partition"}; "value" is kept as its JSON text. On read a
// stored value that is valid JSON comes back as "value", anything else as
// "value_b64", and events also carry "partition" and "offset".
//
// Produce bodies decode into event.Events (decode.go walks the body's
// shape, event.go an event's fields); records read back encode from
// event.Records (encode.go). Both directions check JSON with one scanner
// (scanner.go), which accepts exactly what encoding/json accepts.
package eventjson
