package kafkaserver

import "time"

// touch records activity on the connection: a request read or a response
// written.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// watchIdle closes the connection once it has been idle for
// Config.ConnectionsMaxIdle: no request in flight and nothing read or
// written. It checks on a timer, not on every read, so that busy
// connections pay nothing; it returns a func that stops it.
func (c *conn) watchIdle() (stop func()) {
	limit := c.s.cfg.ConnectionsMaxIdle
	c.touch()
	var t *time.Timer
	check := func() {
		if c.ctx.Err() != nil {
			return
		}
		// The reader holds one slot while it waits for the next frame;
		// any other is a request being handled or answered.
		busy := len(c.inflight) > 1
		idle := time.Since(time.Unix(0, c.lastActive.Load()))
		if !busy && idle >= limit {
			c.log.Info("kafka connection closed: idle", "idle", idle.Round(time.Millisecond), "connections_max_idle", limit)
			c.shutdown()
			return
		}
		next := limit
		if !busy {
			next = limit - idle
		}
		t.Reset(next)
	}
	// Armed only once t is set, however short the limit.
	t = time.AfterFunc(time.Hour, check)
	t.Reset(limit)
	return func() { t.Stop() }
}
