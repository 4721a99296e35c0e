// Package eventjson converts events between Runnel's JSON form (API.md,
// "Events") and their stored bytes, for REST and WebSocket alike.
//
// On write an event is {"key", "value" | "value_b64", "headers",
// "timestamp", "partition"}; "value" is kept as its JSON text. On read a
// stored value that is valid JSON comes back as "value", anything else as
// "value_b64", and events also carry "partition" and "offset".
package eventjson
