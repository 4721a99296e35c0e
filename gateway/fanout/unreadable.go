package fanout

import (
	"context"

	"github.com/runnel-dev/runnel/gateway/event"
)

// UnreadableSink is a Sink that can be told about events it will never get.
// When a subscription's reader meets an *event.UnreadableError, the hub calls
// Unreadable from the subscription's goroutine, in order with Deliver:
// every event below err.From has been delivered before, and the events from
// err.To on follow. A nil error moves the subscription past the damage; a
// non-nil one ends the subscription with it.
//
// A subscription whose Sink is not an UnreadableSink ends with the
// *event.UnreadableError instead (Subscription.Err), rather than skip events
// silently.
type UnreadableSink interface {
	Sink
	Unreadable(ctx context.Context, err *event.UnreadableError) error
}
