package controller

import (
	"context"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// controlledShutdown serves a heartbeat with WantShutDown (Kafka's
// controlled shutdown, KIP-631): the broker is marked shutting down, so it
// is never elected nor added to an ISR again until it registers anew; in
// one commit it leaves every ISR (except as the last member of a partition
// that then goes leaderless, as when it is fenced) and each partition it
// led gets a new leader from its ISR. The answer says whether it now leads
// nothing. A fenced broker stays fenced.
func (c *Controller) controlledShutdown(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return HeartbeatResponse{}, err
	}
	img := c.image()
	if err := checkBrokerEpoch(img, req.ID, req.Epoch); err != nil {
		return HeartbeatResponse{}, err
	}
	if !c.shuttingDown(req.ID) {
		c.log.Info("broker asks for a controlled shutdown", "broker", req.ID)
	}
	c.setShuttingDown(req.ID, true)
	if recs := c.fenceChanges(img, req.ID); len(recs) > 0 {
		if _, err := c.proposeLocked(ctx, recs...); err != nil {
			return HeartbeatResponse{}, err
		}
		img = c.image()
	}
	b, _ := img.Broker(req.ID)
	n := Leaderships(img, req.ID)
	if n == 0 {
		c.log.Info("broker may shut down: it leads nothing", "broker", req.ID)
	}
	return HeartbeatResponse{Fenced: b.Fenced, ShouldShutDown: n == 0, Leaderships: n}, nil
}

// Leaderships counts the partitions broker id leads in img.
func Leaderships(img *metadata.Image, id int32) int {
	n := 0
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == id {
				n++
			}
		}
	}
	return n
}
