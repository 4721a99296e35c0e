package broker

import (
	"sync"
)

// replicaManager runs one replica fetcher per leader broker this broker
// follows partitions of (Kafka's ReplicaFetcherManager with one fetcher per
// source broker): each fetcher batches every partition it follows from its
// leader into one fetch. Partitions move between fetchers as the metadata
// image changes their leaders.
//
// Lock order: replicaManager.mu, then a fetcher's mu.
type replicaManager struct {
	b *Broker

	mu       sync.Mutex
	fetchers map[int32]*replicaFetcher
	leaderOf map[*partition]int32 // the fetcher each followed partition is in
	closed   bool
}

func newReplicaManager(b *Broker) *replicaManager {
	return &replicaManager{b: b, fetchers: map[int32]*replicaFetcher{}, leaderOf: map[*partition]int32{}}
}

// follow has the fetcher of leader fetch p in epoch. A partition that
// follows a new leader or epoch first truncates its divergent tail.
func (m *replicaManager) follow(p *partition, leader, epoch int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if old, ok := m.leaderOf[p]; ok && old != leader {
		m.fetchers[old].remove(p)
	}
	f := m.fetchers[leader]
	if f == nil {
		f = newReplicaFetcher(m.b, leader)
		m.fetchers[leader] = f
		f.start()
	}
	m.leaderOf[p] = leader
	f.add(p, epoch)
}

// unfollow stops fetching p (it leads now, lost its leader, or is gone).
func (m *replicaManager) unfollow(p *partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.leaderOf[p]; ok {
		m.fetchers[old].remove(p)
		delete(m.leaderOf, p)
	}
}

// close stops every fetcher and waits for them.
func (m *replicaManager) close() {
	m.mu.Lock()
	m.closed = true
	fs := make([]*replicaFetcher, 0, len(m.fetchers))
	for _, f := range m.fetchers {
		fs = append(fs, f)
	}
	m.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
}
