// Package kafkaserver is the Kafka wire-protocol server of a Runnel broker:
// it accepts TCP connections, decodes request frames with franz-go's kmsg,
// hands each request to a Handler and writes the responses back. It has no
// business logic; the broker plugs its Produce, Fetch, Metadata, admin and
// other handlers in through one Handler and a table of supported versions.
//
// # Frames
//
// A request is an int32 size, a request header (v1, or flexible v2 with
// tagged fields when kmsg's IsFlexible says the key and version are
// flexible; v0 only for ControlledShutdown v0) and a body decoded with
// kmsg.RequestForKey, SetVersion and ReadFrom. A size above
// Config.MaxRequestBytes closes the connection before anything is
// allocated, and a frame's buffer grows only as its bytes arrive. A key or
// version outside Config.APIs, or a body that does not decode, closes the
// connection with a log line, as Kafka does; the exception is ApiVersions,
// which the server answers itself from the table: at an unsupported
// version it replies with an ApiVersions v0 response carrying
// UNSUPPORTED_VERSION and the table, so clients downgrade. Responses are
// encoded with kmsg's AppendTo behind a v0 header (always for ApiVersions)
// or a flexible v1 header.
//
// A connection with no request in flight that has read and written nothing
// for Config.ConnectionsMaxIdle (Kafka's connections.max.idle.ms, 10
// minutes) is closed with a log line.
//
// # Pipelining
//
// Each connection has a reader goroutine, a writer goroutine and one
// goroutine per request being handled. The reader keeps decoding while
// earlier requests are handled, up to Config.MaxInFlightPerConn requests
// and Config.MaxInFlightBytesPerConn bytes read but not yet answered, then
// stops reading (back pressure through TCP). It reads the socket into 256
// KiB slabs shared by reference count, so that a request up to half a slab
// is a slice of what one read returned, never copied out; bigger requests
// get a buffer of their own. Each request gets a slot in a FIFO queue; its
// handler goroutine runs Handle, encodes the response into the slot and
// marks it done. The writer takes slots in queue order, so responses leave
// in request order whatever order the handlers finish in, and coalesces the
// bytes of ready responses into one writev. Requests of Config.OrderedAPIs
// (Produce by default) go instead to one goroutine per connection that
// handles them in arrival order, as Kafka handles every request of a
// connection, so pipelined produce requests append in the order sent. It
// takes every ordered request queued when it is free, and a handler that is
// a BatchHandler gets them in one call: under a pipelining producer, the
// requests read while the previous ones were appended are written to each
// partition's log together. A PipelinedBatchHandler may leave a request's
// wait (acks=all for its replicas) to a Finish that a second goroutine per
// connection calls in request order, so that the next requests are
// appended meanwhile. A handler error or panic (recovered) closes
// that connection only, after the responses to earlier requests. Every
// goroutine is owned: Server.Close cancels the contexts, closes listeners
// and sockets, and waits for all of them, handlers included.
//
// # Zero copy
//
// Record batches stay in segment files. A handler calls Response.Splice
// with file regions (commitlog.FileSlice, what the log's reads return) and
// assigns the returned placeholder (a per-process
// random 16-byte prefix plus a sequence number, so it cannot collide with
// topic names or data) to a bytes field such as a Fetch partition's
// RecordBatches. After encoding, the server finds each placeholder,
// replaces it and its length prefix (int32, or a compact uvarint in
// flexible versions) with a prefix for the regions' total size, fixes the
// frame size, and writes the bytes before it, then the regions with
// sendfile(2), then the rest. sendfile runs at an explicit offset, never
// the file's shared position, inside the file's SyscallConn Control (the
// descriptor cannot be freed mid-call by a concurrent Close) and the
// socket's RawConn Write (EAGAIN parks on the netpoller). A file closed
// under the server or shorter than its region closes the connection; the
// client retries. Connections that are not TCP (unix sockets in tests) get
// a ReadAt and Write copy instead, not counted by Server.SendfileBytes; so
// do connections on a TLS listener (Config.TLS), whose bytes must be
// encrypted in user space: the region is read in 256 KiB chunks and
// written through crypto/tls (kernel TLS offload, which would keep
// sendfile, is not used: Go's crypto/tls does not support it).
//
// # TLS
//
// With Config.TLS each accepted connection completes a TLS handshake in
// its own goroutine before its first request is read, within
// Config.TLSHandshakeTimeout: a plaintext client's first bytes are not a
// TLS record, so it is disconnected at once, and a silent one at the
// timeout. The handler sees the listener's name and the TLS state (the
// verified client chain) in Request.Conn.
// Response.Release tells the handler when the files may be let go: the
// broker holds a reference to each segment file it splices until then, so
// retention or DeleteRecords removing the segment meanwhile does not close
// the file under the sendfile.
//
// # SASL
//
// With Config.SASL a listener is a SASL one. The reader goroutine answers
// SaslHandshake (v0-1) and SaslAuthenticate (v0-2) itself, in arrival
// order, driving a Mechanism's Exchange; after SaslHandshake v0 the
// exchange's messages are bare size-prefixed frames. Until a connection
// has authenticated, only ApiVersions and those two are accepted, frames
// above MaxUnauthenticatedFrame are refused at their size prefix, and
// anything else closes the connection, as Kafka does. Every later
// request carries the Identity (Request.Identity); the handler authorizes
// with it. The session lasts until the credential's expiry or
// SASLConfig.MaxReauth, whichever is sooner (sent as SaslAuthenticate v1's
// session lifetime); a client re-authenticates on the same connection
// (KIP-368), as the same principal, or its first request after the
// session closes the connection. A refused authentication is answered,
// then the connection closes.
package kafkaserver
