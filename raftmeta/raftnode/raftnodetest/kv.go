package raftnodetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
)

// ErrBadCommand is what KV.Apply returns for data that is not "key=value".
var ErrBadCommand = errors.New("kv: command must be key=value")

// KV is a small deterministic raftnode.StateMachine for tests: each entry is
// "key=value" and sets key. Data without '=' is rejected with ErrBadCommand. It is
// safe to read (Get, Len, Hash) while the node applies.
type KV struct {
	mu      sync.Mutex
	m       map[string]string
	applied uint64
	count   uint64 // entries applied since the state began (carried in snapshots)
}

// NewKV returns an empty KV.
func NewKV() *KV { return &KV{m: make(map[string]string)} }

type kvSnapshot struct {
	M     map[string]string `json:"m"`
	Count uint64            `json:"count"`
}

// Apply implements raftnode.StateMachine.
func (kv *KV) Apply(index uint64, data []byte) error {
	k, v, ok := bytes.Cut(data, []byte("="))
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if index <= kv.applied {
		return fmt.Errorf("kv: index %d applied twice (last %d)", index, kv.applied)
	}
	kv.applied = index
	if !ok {
		return ErrBadCommand
	}
	kv.m[string(k)] = string(v)
	kv.count++
	return nil
}

// Snapshot implements raftnode.StateMachine.
func (kv *KV) Snapshot() ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return json.Marshal(kvSnapshot{M: kv.m, Count: kv.count})
}

// Restore implements raftnode.StateMachine.
func (kv *KV) Restore(index uint64, data []byte) error {
	var s kvSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("kv: restore: %w", err)
	}
	if s.M == nil {
		s.M = make(map[string]string)
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m, kv.count, kv.applied = s.M, s.Count, index
	return nil
}

// Get returns the value of key.
func (kv *KV) Get(key string) (string, bool) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[key]
	return v, ok
}

// Len returns the number of keys.
func (kv *KV) Len() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.m)
}

// Dump returns a copy of the contents.
func (kv *KV) Dump() map[string]string {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return maps.Clone(kv.m)
}

// Count returns how many entries were applied successfully since the state began.
func (kv *KV) Count() uint64 {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.count
}

// Applied returns the last index applied or restored.
func (kv *KV) Applied() uint64 {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.applied
}

// Hash is a digest of the contents, to compare replicas.
func (kv *KV) Hash() uint64 {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(kv.m)) {
		fmt.Fprintf(h, "%q=%q;", k, kv.m[k])
	}
	return h.Sum64()
}
