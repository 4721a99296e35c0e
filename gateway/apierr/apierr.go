// Package apierr is the gateway's error model: every failure a client sees,
// over REST or WebSocket, is an *Error with an HTTP status, a snake_case code
// and a message for humans. REST writes it as
//
//	{"error": {"code": "<code>", "message": "<message>", ...Extra}}
//
// and WebSocket as an error frame with the same code and message.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is one failure as the client sees it.
type Error struct {
	// Status is the HTTP status: 400, 401, 403, 404, 409, 410, 413, 416,
	// 429, 503, 507, or 500 for what the client cannot fix.
	Status int
	// Code is a stable snake_case name clients can switch on.
	Code string
	// Message says what went wrong in plain words.
	Message string
	// Extra fields go into the error object beside code and message, for
	// example log_start_offset and high_watermark with 416.
	Extra map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header (whole
	// seconds, rounded up), with 429, 503 and 507.
	RetryAfter time.Duration
	// Err is the underlying cause, for logs; it is never sent to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up; 0 when unset.
func (e *Error) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// New returns an error with a formatted message.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common codes. Handlers may use others; these are the ones several
// places share.
const (
	CodeInvalidRequest    = "invalid_request"
	CodeInvalidJSON       = "invalid_json"
	CodeUnauthenticated   = "unauthenticated"
	CodeForbidden         = "forbidden"
	CodeTopicNotFound     = "topic_not_found"
	CodePartitionNotFound = "partition_not_found"
	CodeNotFound          = "not_found"
	CodeTopicExists       = "topic_exists"
	CodeConflict          = "conflict"
	CodeTooLarge          = "payload_too_large"
	CodeOffsetOutOfRange  = "offset_out_of_range"
	CodeDataUnreadable    = "data_unreadable"
	CodeRateLimited       = "rate_limited"
	CodeUnavailable       = "unavailable"
	CodeTimeout           = "timeout"
	CodeInternal          = "internal_error"
	// CodeInsufficientStorage (507): the broker cannot store the events,
	// its disk being full or failing.
	CodeInsufficientStorage = "insufficient_storage"
)

// Invalid is a 400 with CodeInvalidRequest.
func Invalid(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

// As returns err as an *Error: itself when it is one (or wraps one), else a
// 500 internal_error whose message does not leak the cause.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the gateway's log", Err: err}
}

// Consumer group codes.
const (
	// CodeGroupNotFound (404): no consumer group has that name.
	CodeGroupNotFound = "group_not_found"
	// CodeGroupNotEmpty (409): the group has live members, so its offsets
	// cannot be changed nor the group deleted.
	CodeGroupNotEmpty = "group_not_empty"
)

// NotWebSocket answers a request to the WebSocket endpoint at path that is
// not a WebSocket upgrade: a 400 with CodeInvalidRequest, as openapi.yaml
// says, from whichever server the request reached.
func NotWebSocket(path string) *Error {
	return Invalid("%s is a WebSocket endpoint: send a WebSocket upgrade (GET with Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key)", path)
}
