// Package listen lets two HTTP servers share one TCP listener: the gateway's
// REST API, served by fiber (fasthttp), and its WebSocket endpoint, served
// by net/http with gorilla/websocket.
//
// # Why
//
// Clients should need one base URL: https://host/v1/... for REST and
// wss://host/v1/ws for subscriptions, behind the same port, certificate and
// load balancer rule. fasthttp has its own connection handling and cannot
// hand a connection to a net/http handler, and gorilla/websocket needs
// net/http's Hijacker. So the split happens one level lower, per TCP
// connection: [Split] accepts every connection itself, reads (peeks) the
// first request's head, and passes the connection, with the peeked bytes
// replayed to whoever reads it, to one of two listeners: a WebSocket
// upgrade to the WebSocket path goes to the net/http server, everything
// else to fiber.
//
// Deciding by the first request of a connection is enough because browsers
// open a fresh connection for every WebSocket (a WebSocket handshake is
// never sent on a pooled keep-alive connection that carried other
// requests), and so do the WebSocket clients of other languages. A client
// that did send an upgrade as a later request on a REST keep-alive
// connection would reach fiber, which answers it as an ordinary request.
//
// # Costs and limits
//
// Peeking adds no copy to the data path beyond the first request's head.
// A connection that sends nothing is closed after Options.PeekTimeout, and
// a request head longer than Options.MaxPeekBytes goes to the REST server
// unread further, which refuses it by its own limits. To serve TLS, wrap the
// listener with tls.NewListener before Split: the peek then reads decrypted
// bytes (net/http then sees a plain connection, so Request.TLS is nil).
package listen
