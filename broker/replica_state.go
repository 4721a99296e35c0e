package broker

import (
	"slices"
	"sync"
	"time"
)

// followerState is what a leader knows of one follower of a partition,
// learned from its fetches (Kafka's Replica / ReplicaState).
type followerState struct {
	// logEnd is the follower's log end offset: the offset of its last
	// fetch. -1 until it fetched from this leader in this epoch.
	logEnd int64
	// lastCaughtUp is the last time the follower had everything the leader
	// had (Kafka's lastCaughtUpTimeMs): a follower whose lastCaughtUp is
	// older than replica.lag.time.max.ms leaves the ISR.
	lastCaughtUp time.Time
	// lastFetch and lastFetchLeaderEnd are the time of its previous fetch
	// and the leader's log end then.
	lastFetch          time.Time
	lastFetchLeaderEnd int64
}

// leaderReplicas is a leader's view of its followers in one leader epoch.
// Followers' fetches update it; the high watermark and the ISR changes are
// derived from it.
type leaderReplicas struct {
	mu        sync.Mutex
	epoch     int32 // the leader epoch these states belong to; -1 when not leader
	followers map[int32]*followerState
	// epochStart is the log end when this broker became leader in epoch:
	// a follower rejoins the ISR only once it has reached it (Kafka's
	// leaderEpochStartOffset), so that it has every record of earlier
	// epochs the leader kept.
	epochStart int64
	// fenced is set when the controller refused an ISR change because
	// this leader's epoch or this broker's epoch is no longer current: the
	// leader must not acknowledge anything more in this epoch.
	fenced bool
}

// reset starts a new leader epoch: every follower's log end is unknown, and
// the ISR members count as caught up now (Kafka resets lastCaughtUpTime on
// becoming leader), so none leaves the ISR before it had
// replica.lag.time.max.ms to fetch.
func (r *leaderReplicas) reset(epoch int32, self int32, replicas, isr []int32, logEnd int64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch, r.epochStart, r.fenced = epoch, logEnd, false
	r.followers = make(map[int32]*followerState, len(replicas))
	for _, id := range replicas {
		if id == self {
			continue
		}
		f := &followerState{logEnd: -1, lastFetchLeaderEnd: -1}
		if slices.Contains(isr, id) {
			f.lastCaughtUp = now
		}
		r.followers[id] = f
	}
}

// clear forgets the followers: this broker no longer leads.
func (r *leaderReplicas) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch, r.followers, r.fenced = -1, nil, false
}

// fetched records a fetch of follower id at fetchOffset in epoch, when the
// leader's log end is leaderEnd. It reports false when the fetch is not for
// the current epoch's followers.
func (r *leaderReplicas) fetched(epoch, id int32, fetchOffset, leaderEnd int64, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.followers[id]
	if f == nil || r.epoch != epoch {
		return false
	}
	// Kafka's updateFetchState: caught up now if the fetch reaches the
	// leader's end now, or caught up as of the previous fetch if it reaches
	// the leader's end at that time.
	switch {
	case fetchOffset >= leaderEnd:
		f.lastCaughtUp = now
	case f.lastFetchLeaderEnd >= 0 && fetchOffset >= f.lastFetchLeaderEnd && f.lastFetch.After(f.lastCaughtUp):
		f.lastCaughtUp = f.lastFetch
	}
	f.logEnd = fetchOffset
	f.lastFetch, f.lastFetchLeaderEnd = now, leaderEnd
	return true
}

// highWatermark returns the offset every ISR member has: the minimum of the
// leader's log end and the ISR followers' log ends. A member that has not
// fetched in this epoch holds it where it is (its log end is unknown), so
// the result is then -1: no move.
func (r *leaderReplicas) highWatermark(self int32, isr []int32, leaderEnd int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	hw := leaderEnd
	for _, id := range isr {
		if id == self {
			continue
		}
		f := r.followers[id]
		if f == nil || f.logEnd < 0 {
			return -1
		}
		hw = min(hw, f.logEnd)
	}
	return hw
}

// lagging returns the ISR followers that have not caught up for lagMax.
func (r *leaderReplicas) lagging(self int32, isr []int32, lagMax time.Duration, now time.Time) []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int32
	for _, id := range isr {
		if id == self {
			continue
		}
		if f := r.followers[id]; f == nil || now.Sub(f.lastCaughtUp) > lagMax {
			out = append(out, id)
		}
	}
	return out
}

// caughtUp returns the followers outside isr whose log end reached both hw
// and the start of this leader epoch and that were caught up with the
// leader's log end within lagMax (Kafka's isCaughtUp): they may rejoin the
// ISR. The last condition keeps out a follower that stopped fetching: its
// last log end may still equal an idle partition's high watermark.
func (r *leaderReplicas) caughtUp(isr []int32, hw int64, lagMax time.Duration, now time.Time) []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int32
	for id, f := range r.followers {
		if !slices.Contains(isr, id) && f.logEnd >= 0 && f.logEnd >= hw && f.logEnd >= r.epochStart && now.Sub(f.lastCaughtUp) <= lagMax {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// lag returns, for follower id, how many offsets it is behind leaderEnd and
// since when it has not caught up; ok is false for an unknown follower.
func (r *leaderReplicas) lag(id int32, leaderEnd int64) (messages int64, since time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.followers[id]
	if f == nil {
		return 0, time.Time{}, false
	}
	if f.logEnd < 0 {
		return leaderEnd, f.lastCaughtUp, true
	}
	return max(leaderEnd-f.logEnd, 0), f.lastCaughtUp, true
}

// isFenced reports whether the controller refused this leader's epoch.
func (r *leaderReplicas) isFenced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fenced
}

// fence records that the controller refused this leader's epoch; it
// reports whether that is news for the current epoch.
func (r *leaderReplicas) fence(epoch int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != epoch || r.fenced {
		return false
	}
	r.fenced = true
	return true
}
