package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// ErrNotReady is returned (wrapped, with the reason) by Ready while the broker
// cannot yet serve everything the metadata gives it. Load balancers and
// orchestrators should keep traffic away and ask again.
var ErrNotReady = errors.New("broker not ready")

// readyListMax bounds how many partitions a not-ready reason names.
const readyListMax = 10

// Ready reports whether this broker serves everything the cluster metadata
// gives it: its metadata image has applied every entry this member knows to
// be committed, the broker is registered in this process and unfenced, every
// partition the image says it leads is open here and leading at the image's
// leader epoch, no partition it could lead is left without a leader, and no
// partition was refused (ErrPartitionRefused) or has a log failing to write
// (ErrStorage, see StorageError). Otherwise the error wraps
// ErrNotReady and names what is missing. It is cheap enough for /readyz.
func (b *Broker) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m, self := b.member, b.cfg.BrokerID
	epoch := m.BrokerEpoch()
	if epoch == 0 {
		return fmt.Errorf("%w: broker %d has not registered with the controller yet", ErrNotReady, self)
	}
	img := m.Image()
	reg, ok := img.Broker(self)
	if !ok || reg.Epoch != epoch {
		return fmt.Errorf("%w: broker %d's registration (epoch %d) has not reached its metadata image", ErrNotReady, self, epoch)
	}
	if reg.Fenced {
		return fmt.Errorf("%w: broker %d is fenced", ErrNotReady, self)
	}
	if applied, commit := m.AppliedIndex(), m.CommitIndex(); applied < commit {
		return fmt.Errorf("%w: metadata applied up to %d of %d committed", ErrNotReady, applied, commit)
	}
	var refused, leaderless, notLeading, failing []string
	b.mu.RLock()
	parts, refusedParts := maps.Clone(b.parts), maps.Clone(b.refused)
	b.mu.RUnlock()
	for tp, p := range parts {
		if p.log.StorageError() != nil {
			failing = append(failing, tp.String())
		}
	}
	for _, t := range img.Topics() {
		for _, mp := range t.Partitions {
			tp := commitlog.TopicPartition{Topic: t.Name, Partition: mp.Index}
			switch {
			case refusedParts[tp] != nil:
				refused = append(refused, tp.String())
			case mp.Leader == self:
				p := parts[tp]
				if p == nil || p.topicID != t.ID {
					notLeading = append(notLeading, tp.String())
				} else if st := p.state.Load(); !st.isLeader || st.leaderEpoch != mp.LeaderEpoch {
					notLeading = append(notLeading, tp.String())
				}
			case mp.Leader == metadata.NoLeader && contains(mp.ISR, self):
				leaderless = append(leaderless, tp.String())
			}
		}
	}
	var reasons []string
	if len(refused) > 0 {
		reasons = append(reasons, "partitions refused (partition.metadata missing or damaged beside their data, files kept): "+nameList(refused))
	}
	if len(notLeading) > 0 {
		reasons = append(reasons, "partitions this broker leads that are not open and leading here yet: "+nameList(notLeading))
	}
	if len(leaderless) > 0 {
		reasons = append(reasons, "partitions without a leader that this broker could lead: "+nameList(leaderless))
	}
	if len(failing) > 0 {
		reasons = append(reasons, fmt.Sprintf("%v: partitions whose log refuses writes after a failed write or fsync (retried until the disk takes writes again): %s", ErrStorage, nameList(failing)))
	}
	if len(reasons) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(reasons, "; "))
	}
	return nil
}

// nameList names up to readyListMax partitions, sorted, and counts the rest.
func nameList(names []string) string {
	sort.Strings(names)
	if len(names) <= readyListMax {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:readyListMax], ", "), len(names)-readyListMax)
}
