// Package wsapi serves the gateway's WebSocket endpoint, GET /v1/ws (API.md,
// "WebSocket"): one socket carries many subscriptions, each reading one or
// more partitions of a topic through the fan-out hub.
//
// # Frames
//
// Client frames are JSON text: auth, subscribe, unsubscribe, commit
// (openapi.yaml's WsClientFrame). The server sends subscribed, event,
// events, committed, authenticated and error frames (WsServerFrame). A bad
// frame (not JSON, unknown type, bad "from", unknown topic or partition,
// duplicate id, too many subscriptions, too large) gets an error frame with
// a code, and the socket lives on. An error frame that answers a client
// frame names that frame's type in "op" ("unknown" when the server could
// not tell it); one without "op" is about a subscription (it ended, or
// events were lost) or the socket, so a refused commit is told apart from
// the end of the subscription it names.
//
// # Consumer groups
//
// A subscribe frame with "group" starts a member of that Kafka consumer
// group (Config.Groups, a backend.GroupConsumer: its own franz-go client,
// classic protocol, cooperative-sticky assignor), reading from the
// committed offsets ("from" where none) with its own fetches rather than
// the fan-out hub. The first subscribed frame has no partitions; each
// assignment change sends another with the partitions held now. A revoked
// partition is marked so that the writer drops its queued events, and no
// more are queued once the revocation returns, before the member rejoins.
// A commit frame commits through the member (partitions it does not hold
// now are refused with "conflict") and is answered by a committed frame.
// Unsubscribing or closing the socket leaves the group at once. Without
// Config.Groups, group subscriptions get the code "unsupported".
//
// "from" is "latest" (default), "earliest", an offset (for every
// partition), {"time": ms} (the first event at or after it, through
// Topics.Offsets; the end of the log when none is that recent) or
// {"offsets": {"0": 120}}; with "offsets", a subscribed partition without
// an offset starts at the log start, since starting a partition the client
// did not save at the end could skip events. The subscribed frame adds,
// beyond the API's fields, "offsets": each partition's start, which a
// client can save and pass back as {"offsets": ...}.
//
// Events are encoded with package eventjson, one event per frame, unless
// the subscribe frame asked for "batch": then the writer gathers the
// subscription's events that are queued one after another into events
// frames (eventBatch: at most maxBatchEvents or about maxBatchBytes). It
// never waits for more: what is queued when it writes is sent, and a lone
// event goes as an event frame. A browser spends about as much per
// WebSocket message as on the event in it, which is what batching saves. A
// subscription's events of one partition arrive in offset order without
// gaps (package fanout guarantees that); after an unsubscribe no more of
// its events are sent. The one exception is stored data that cannot be
// read (damaged on disk): in its place the subscription gets an error frame
// with code "data_unreadable", the topic, partition, the lost offsets
// [unreadable_from, next_offset), and goes on at next_offset.
//
// # Authentication
//
// A token comes with the upgrade (Authorization: Bearer, or ?access_token=
// for browsers, which cannot set headers); a bad one is refused with HTTP
// 401 before the upgrade. Without one, the first frame must be
// {"type": "auth", "token": ...} within Limits.AuthTimeout. Failing that
// (another frame first, a bad token, silence) the client gets an error
// frame with code "unauthenticated" and the socket closes with code 4401
// (not authenticated; graphql-ws uses the same).
// An accepted auth frame, the first or a later one, is answered by an
// authenticated frame carrying the token's exp.
// A later auth frame refreshes the token: the socket then lives until the
// new token's exp; a refused refresh gets an error frame and the current
// token stays in force. Subscriptions that a refreshed token may no longer
// read end with a "forbidden" error frame. When the token expires
// unrefreshed, the socket closes with code 4001.
//
// # Flow control
//
// Each socket has a queue bounded by Limits.MaxBufferedBytes and a writer
// goroutine that runs while the queue holds something to write, then stops.
// While a subscription keeps up with the shared tail, the tail offers its
// events straight to the queue (fanout.LiveSink) and the writer encodes
// them: one goroutine hop from the fetch to the socket. When the queue has
// no room the offer is refused and the hub pauses that subscription only;
// it then catches up from the log through Deliver, which encodes events and
// blocks while the queue is full, and rejoins the tail when the client
// reads again. A slow client costs bounded memory, never delays other
// clients, and loses nothing. A client that accepts no data for
// Limits.WriteTimeout is disconnected. A timer asks the writer for a ping
// every Limits.PingInterval; a socket from which nothing, pongs included,
// arrives for Limits.PongWait is dropped.
//
// # Memory
//
// Many sockets sit idle, so an idle one holds as little as it can: one
// goroutine (the reader, whose stack stays small because client frames are
// handled on a goroutine of their own), a 128-byte read buffer, no write
// buffer (the writer's come from a pool), no fan-out goroutine and no
// net/http state (the socket leaves net/http's goroutine). With one
// subscription that is about 9 KiB; package gateway's
// TestIdleWebSocketMemory measures it.
//
// # Shutdown
//
// Handler.Close closes every socket with 1001 (going away) after a close
// handshake of at most a few seconds, and waits for their goroutines.
package wsapi
