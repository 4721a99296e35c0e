package controller

import (
	"context"
	"fmt"
	"time"
)

// session is what the active controller knows of one broker's liveness.
type session struct {
	last time.Time // last heartbeat (or registration, or activation)
	node uint64    // raft node the heartbeats came from (or NodeOf's guess); 0 if unknown
	// shuttingDown is set by a heartbeat asking for a controlled shutdown
	// and cleared by a new registration: the broker is never elected nor
	// added to an ISR meanwhile.
	shuttingDown bool
}

// shuttingDown reports whether broker id asked for a controlled shutdown.
func (c *Controller) shuttingDown(id int32) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	s := c.sessions[id]
	return s != nil && s.shuttingDown
}

// sessionLocked returns broker id's session, starting one now if it has
// none, or nil while the controller is inactive. c.smu must be held.
func (c *Controller) sessionLocked(id int32) *session {
	if c.sessions == nil {
		return nil
	}
	s := c.sessions[id]
	if s == nil {
		s = &session{last: c.cfg.Now()}
		c.sessions[id] = s
	}
	return s
}

// setShuttingDown records whether broker id is shutting down.
func (c *Controller) setShuttingDown(id int32, down bool) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if s := c.sessionLocked(id); s != nil {
		s.shuttingDown = down
	}
}

// touch records a heartbeat from broker id, sent from raft node `node` (0 if
// unknown), now.
func (c *Controller) touch(id int32, node uint64) {
	c.smu.Lock()
	defer c.smu.Unlock()
	s := c.sessionLocked(id)
	if s == nil {
		return
	}
	s.last = c.cfg.Now()
	if node != 0 {
		s.node = node
	}
}

// fenceReason says why broker id should be fenced now, or "" if it should
// not: its session expired, or its node has been without a connection to
// this one for ConnLostGrace. A broker registered through another
// controller since activation starts its session now.
func (c *Controller) fenceReason(id int32, now time.Time) string {
	c.smu.Lock()
	s := c.sessionLocked(id)
	var last time.Time
	var node uint64
	if s != nil {
		last, node = s.last, s.node
	}
	c.smu.Unlock()
	if s == nil {
		return ""
	}
	if silent := now.Sub(last); silent > c.cfg.SessionTimeout {
		return fmt.Sprintf("session expired: silent for %v", silent)
	}
	if node == 0 || c.cfg.PeerDisconnectedFor == nil {
		return ""
	}
	// Ask the transport outside smu: it has its own lock.
	if lost := c.cfg.PeerDisconnectedFor(node); lost >= c.cfg.ConnLostGrace {
		return fmt.Sprintf("connection lost: node %d without a connection for %v", node, lost)
	}
	return ""
}

// ExpireSessions fences every unfenced broker whose last heartbeat is older
// than the session timeout, or whose node lost its connection to this one
// more than ConnLostGrace ago, one commit per broker: the fencing and the
// leader elections and ISR shrinks it causes. Run calls it periodically;
// tests call it after moving a fake clock.
func (c *Controller) ExpireSessions(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return err
	}
	now := c.cfg.Now()
	for _, b := range c.image().Brokers() {
		if b.Fenced {
			continue
		}
		why := c.fenceReason(b.ID, now)
		if why == "" {
			continue
		}
		if err := c.fenceLocked(ctx, b.ID, b.Epoch); err != nil {
			return fmt.Errorf("controller: fencing broker %d: %w", b.ID, err)
		}
		c.log.Info("broker fenced", "broker", b.ID, "reason", why)
	}
	return nil
}
