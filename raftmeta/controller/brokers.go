package controller

import (
	"context"
	"fmt"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// checkBrokerEpoch checks that broker id is registered with epoch.
func checkBrokerEpoch(img *metadata.Image, id int32, epoch uint64) error {
	b, ok := img.Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d", metadata.ErrUnknownBroker, id)
	}
	if b.Epoch != epoch {
		return fmt.Errorf("%w: broker %d is at epoch %d, request has %d", metadata.ErrStaleBrokerEpoch, id, b.Epoch, epoch)
	}
	return nil
}

// RegisterBroker registers a broker process and makes it eligible, in two
// commits. The first records the registration; for a new incarnation of a
// known broker it also takes the old incarnation out of every ISR and
// leadership, because a restarted process cannot vouch for what its
// predecessor acknowledged. The second unfences the broker (the registration
// counts as its first heartbeat) and gives it leaderless partitions it can
// lead. It returns the broker epoch, the raft index of the registration.
func (c *Controller) RegisterBroker(ctx context.Context, req RegisterBrokerRequest) (RegisterBrokerResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return RegisterBrokerResponse{}, err
	}
	img := c.image()
	reg := metadata.Record{BrokerRegistered: &metadata.BrokerRegistered{
		ID: req.ID, Addr: req.Addr, Rack: req.Rack, Incarnation: req.Incarnation, Listeners: req.Listeners,
	}}
	after, err := img.Apply(img.Version()+1, metadata.Batch{Records: []metadata.Record{reg}})
	if err != nil {
		return RegisterBrokerResponse{}, err
	}
	recs := []metadata.Record{reg}
	if old, ok := img.Broker(req.ID); ok && old.Incarnation != req.Incarnation {
		recs = append(recs, c.fenceChanges(after, req.ID)...)
	}
	epoch, err := c.proposeLocked(ctx, recs...)
	if err != nil {
		return RegisterBrokerResponse{}, err
	}
	b, ok := c.image().Broker(req.ID)
	if !ok {
		return RegisterBrokerResponse{}, fmt.Errorf("%w: broker %d vanished after registration", metadata.ErrUnknownBroker, req.ID)
	}
	if b.Incarnation != req.Incarnation {
		return RegisterBrokerResponse{}, fmt.Errorf("%w: broker %d registered again by another process", metadata.ErrStaleBrokerEpoch, req.ID)
	}
	if b.Epoch != epoch {
		// A retry of an earlier registration of this incarnation: the epoch
		// is the earlier one.
		epoch = b.Epoch
	}
	c.touch(req.ID, req.Node)
	c.setShuttingDown(req.ID, false) // a new process, or the same one again: eligible
	if err := c.unfenceLocked(ctx, req.ID, epoch); err != nil {
		return RegisterBrokerResponse{}, err
	}
	c.log.Info("broker registered", "broker", req.ID, "epoch", epoch, "addr", req.Addr, "rack", req.Rack)
	return RegisterBrokerResponse{Epoch: epoch}, nil
}

// unfenceLocked unfences broker id, if fenced, together with the elections
// that follow. c.mu must be held.
func (c *Controller) unfenceLocked(ctx context.Context, id int32, epoch uint64) error {
	img := c.image()
	if err := checkBrokerEpoch(img, id, epoch); err != nil {
		return err
	}
	if b, _ := img.Broker(id); !b.Fenced {
		return nil
	}
	rec := metadata.Record{BrokerUnfenced: &metadata.BrokerUnfenced{ID: id, Epoch: epoch}}
	after, err := img.Apply(img.Version()+1, metadata.Batch{Records: []metadata.Record{rec}})
	if err != nil {
		return err
	}
	recs := append([]metadata.Record{rec}, c.unfenceChanges(after, id)...)
	if _, err := c.proposeLocked(ctx, recs...); err != nil {
		return err
	}
	c.log.Info("broker unfenced", "broker", id, "epoch", epoch, "elections", len(recs)-1)
	return nil
}

// Heartbeat keeps a broker's session alive, and unfences it if it was
// fenced. A broker that gets metadata.ErrUnknownBroker or
// metadata.ErrStaleBrokerEpoch must register again.
func (c *Controller) Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	if err := c.checkActive(); err != nil {
		return HeartbeatResponse{}, err
	}
	img := c.image()
	if err := checkBrokerEpoch(img, req.ID, req.Epoch); err != nil {
		return HeartbeatResponse{}, err
	}
	c.touch(req.ID, req.Node)
	if req.WantShutDown {
		return c.controlledShutdown(ctx, req)
	}
	if b, _ := img.Broker(req.ID); !b.Fenced {
		return HeartbeatResponse{}, nil
	}
	// Fenced: unfencing is a decision, taken under mu.
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkActive(); err != nil {
		return HeartbeatResponse{}, err
	}
	if err := c.unfenceLocked(ctx, req.ID, req.Epoch); err != nil {
		return HeartbeatResponse{Fenced: true}, err
	}
	return HeartbeatResponse{}, nil
}

// fenceLocked fences broker id with the elections that follow. c.mu must be
// held.
func (c *Controller) fenceLocked(ctx context.Context, id int32, epoch uint64) error {
	img := c.image()
	rec := metadata.Record{BrokerFenced: &metadata.BrokerFenced{ID: id, Epoch: epoch}}
	after, err := img.Apply(img.Version()+1, metadata.Batch{Records: []metadata.Record{rec}})
	if err != nil {
		return err
	}
	_, err = c.proposeLocked(ctx, append([]metadata.Record{rec}, c.fenceChanges(after, id)...)...)
	return err
}
