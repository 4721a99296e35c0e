package kafkaserver

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves requests. The server calls Handle from several goroutines
// at once, for different connections and for pipelined requests of one
// connection (up to Config.MaxInFlightPerConn), except that requests of
// Config.OrderedAPIs on one connection are handled one after another, by
// one goroutine per connection.
type Handler interface {
	// Handle serves one request. ctx is cancelled when the connection
	// closes or the server stops; Handle must then return promptly, since
	// Server.Close waits for it. A nil Response, or one with a nil Msg,
	// sends nothing (Produce with acks=0). A non-nil error is logged and
	// closes the connection, after the responses to earlier requests.
	Handle(ctx context.Context, req *Request) (*Response, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// Handle calls f(ctx, req).
func (f HandlerFunc) Handle(ctx context.Context, req *Request) (*Response, error) {
	return f(ctx, req)
}

// BatchHandler is a Handler that can also serve several requests of one
// connection in one call. The server uses it for the requests of
// Config.OrderedAPIs: those a client pipelined that were read while the ones
// before them were being handled, of one API key, are passed together in
// arrival order, so that the handler can coalesce their work (the broker
// writes the records of several produce requests with one vectored write).
type BatchHandler interface {
	Handler
	// HandleBatch serves reqs, of one connection and one API key, as Handle
	// would one after another, and returns one Result per request, in
	// order. ctx is as for Handle.
	HandleBatch(ctx context.Context, reqs []*Request) []Result
}

// Result is what Handle returns, for one request of HandleBatch.
type Result struct {
	Response *Response
	Err      error
	// Finish, set only by PipelinedBatchHandler.HandleBatchPipelined,
	// answers the request later in place of Response and Err.
	Finish func(ctx context.Context) (*Response, error)
}

// ConnInfo describes the connection a request arrived on.
type ConnInfo struct {
	// ID is unique among the connections of one Server, starting at 1.
	ID uint64
	// RemoteAddr and LocalAddr are the connection's addresses.
	RemoteAddr, LocalAddr net.Addr
	// Listener is the Server's Config.ListenerName.
	Listener string
	// TLS is the connection's TLS state on a TLS listener (with the
	// verified client certificate chain, if one was sent), nil otherwise.
	TLS *tls.ConnectionState
}

// Request is one decoded request. The handler owns it; the server does not
// touch it after calling Handle. Byte slices in Msg (a produce request's
// records) alias the request frame, which the server reuses once the response
// is written: a handler must not keep them after Handle returns.
type Request struct {
	// Key and Version are the API key and version from the request header.
	Key, Version int16
	// CorrelationID is echoed in the response by the server.
	CorrelationID int32
	// ClientID is the header's client id; nil if the client sent null.
	ClientID *string
	// Msg is the decoded body, with its version set.
	Msg kmsg.Request
	// Conn describes the connection the request came on.
	Conn ConnInfo
	// Identity is who authenticated the connection on a SASL listener,
	// as of the request's arrival; nil on listeners without SASL, where
	// the handler allows everything.
	Identity *Identity
}

// requestHeader is the part of a request header the server needs.
type requestHeader struct {
	key, version  int16
	correlationID int32
	clientID      *string
}

// errMalformed wraps every reason a frame cannot be decoded.
var errMalformed = errors.New("malformed request")

// unsupportedError reports a key or version outside the API table; the
// header was otherwise readable, so ApiVersions can still be answered.
type unsupportedError struct {
	key, version int16
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("unsupported api key %d (%s) version %d", e.key, kmsg.NameForKey(e.key), e.version)
}

// minHeaderBytes is api key, api version and correlation id.
const minHeaderBytes = 8

// parseRequest turns one frame (without its size prefix) into its header and
// decoded body. A key or version outside apis gives an *unsupportedError
// with a valid header; anything else unreadable wraps errMalformed. It never
// panics and allocates in proportion to len(frame).
func parseRequest(frame []byte, apis *apiTable) (requestHeader, kmsg.Request, error) {
	var h requestHeader
	if len(frame) < minHeaderBytes {
		return h, nil, fmt.Errorf("%w: frame of %d bytes is shorter than a request header", errMalformed, len(frame))
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	if !apis.supports(h.key, h.version) {
		return h, nil, &unsupportedError{key: h.key, version: h.version}
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)

	rest := frame[minHeaderBytes:]
	// Request header v0 (no client id) is used only by ControlledShutdown v0.
	if !(h.key == 7 && h.version == 0) {
		var ok bool
		if h.clientID, rest, ok = readNullableString(rest); !ok {
			return h, nil, fmt.Errorf("%w: truncated client id", errMalformed)
		}
	}
	if req.IsFlexible() {
		var ok bool
		if rest, ok = skipTags(rest); !ok {
			return h, nil, fmt.Errorf("%w: bad header tagged fields", errMalformed)
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d body: %v", errMalformed, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, nil
}

// readNullableString reads an int16-length string; the request header's
// client id keeps this encoding even in flexible header v2.
func readNullableString(b []byte) (*string, []byte, bool) {
	if len(b) < 2 {
		return nil, b, false
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n < 0 {
		return nil, b, n == -1
	}
	if len(b) < int(n) {
		return nil, b, false
	}
	s := string(b[:n])
	return &s, b[n:], true
}

// skipTags skips a tagged-fields section: a count, then per field a tag, a
// size and that many bytes, all sizes as unsigned varints.
func skipTags(b []byte) ([]byte, bool) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return b, false
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return b, false
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return b, false
		}
		b = b[n+int(size):]
	}
	return b, true
}
