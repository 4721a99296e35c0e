package raftmeta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"

	"github.com/runnel-dev/runnel/internal/plural"
)

// shutdownPoll is how often ControlledShutdown asks the controller again.
const shutdownPoll = 100 * time.Millisecond

// ControlledShutdown asks the controller to move this broker's leaderships
// away and to take it out of every ISR (Kafka's controlled shutdown), and
// waits until the controller says it leads nothing and this member's image
// shows it, or ctx ends. From the first call on, every heartbeat asks for
// the shutdown, so a new controller carries it on. Call it before closing
// the broker; clients of its partitions are then answered
// NOT_LEADER_OR_FOLLOWER and move to the new leaders.
func (m *Member) ControlledShutdown(ctx context.Context) error {
	if m.cfg.AdvertisedAddr == "" {
		return errors.New("raftmeta: controlled shutdown of a member that is not a broker")
	}
	m.leaving.Store(true)
	var last error
	for {
		if epoch := m.brokerEpoch.Load(); epoch == 0 {
			last = errors.New("broker not registered")
		} else {
			resp, err := m.Heartbeat(ctx, controller.HeartbeatRequest{ID: m.cfg.BrokerID, Epoch: epoch, WantShutDown: true})
			switch {
			case err != nil:
				last = err
			case resp.ShouldShutDown:
				return m.waitFor(ctx, func(img *metadata.Image) bool { return controller.Leaderships(img, m.cfg.BrokerID) == 0 })
			default:
				last = fmt.Errorf("still leads %s", plural.Noun(resp.Leaderships, "partition"))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: controlled shutdown: %w (last: %v)", ctx.Err(), last)
		case <-m.ctx.Done():
			return ErrClosed
		case <-time.After(shutdownPoll):
		}
	}
}
