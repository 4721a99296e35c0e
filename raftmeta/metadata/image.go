package metadata

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Broker is a registered broker as the image knows it.
type Broker struct {
	ID          int32     `json:"id"`
	Addr        string    `json:"addr"`
	Rack        string    `json:"rack,omitempty"`
	Incarnation uuid.UUID `json:"incarnation"`
	// Epoch is the raft index of the registration of this incarnation. A
	// broker quotes it in heartbeats and AlterPartition requests.
	Epoch uint64 `json:"epoch"`
	// Fenced brokers may not lead or join an ISR.
	Fenced bool `json:"fenced"`
	// Listeners are the broker's named advertised listeners (none for a
	// broker that registered only Addr). Shared between image versions:
	// read it, never modify it.
	Listeners []Endpoint `json:"listeners,omitempty"`
}

// ListenerAddr returns the address the broker advertises on the listener
// named name: the matching endpoint when the broker registered named
// listeners (false when it has none of that name, so that a client of a
// listener is never sent to another), Addr when it did not or name is
// empty.
func (b Broker) ListenerAddr(name string) (string, bool) {
	if name == "" || len(b.Listeners) == 0 {
		return b.Addr, true
	}
	for _, e := range b.Listeners {
		if e.Name == name {
			return e.Addr, true
		}
	}
	return "", false
}

// Partition is the state of one partition. Slices are shared between image
// versions: read them, never modify them.
type Partition struct {
	Index    int32   `json:"index"`
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	// Leader is a broker id or NoLeader.
	Leader int32 `json:"leader"`
	// LeaderEpoch increases whenever the leader changes.
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch increases on every change to the partition.
	PartitionEpoch int32 `json:"partition_epoch"`
	// RemoteSegments are sorted by base offset, then object key.
	RemoteSegments []RemoteSegment `json:"remote_segments,omitempty"`
	// RemoteLogStart is the partition's log start offset where it lies in
	// its remote segments (DeleteRecords moved it there): records below it
	// are gone for readers even while a remote segment still holds them.
	RemoteLogStart int64 `json:"remote_log_start,omitempty"`
	// AddingReplicas and RemovingReplicas describe a replica reassignment
	// in progress (KIP-455): Replicas holds the target replicas followed by
	// RemovingReplicas; AddingReplicas are target replicas that were not
	// replicas before. Both empty when none is in progress.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

// RemoteStart returns the first offset the partition's remote segments
// still give readers, and false when it has none.
func (p Partition) RemoteStart() (int64, bool) {
	if len(p.RemoteSegments) == 0 {
		return 0, false
	}
	return max(p.RemoteSegments[0].BaseOffset, p.RemoteLogStart), true
}

// RemoteEndOffset returns the last offset the partition's remote segments
// hold, -1 when it has none, and at least RemoteLogStart-1: offsets below
// the remote log start are gone for readers, and need no upload even when
// remote retention removed every segment. Local copies of segments ending
// at or below it may go; an upload must end past it.
func (p Partition) RemoteEndOffset() int64 {
	end := p.RemoteLogStart - 1
	for _, s := range p.RemoteSegments {
		end = max(end, s.EndOffset)
	}
	return end
}

// Reassigning reports whether a replica reassignment is in progress.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas are the replicas the partition will have once its
// reassignment completes: Replicas without RemovingReplicas.
func (p Partition) TargetReplicas() []int32 {
	out := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !slices.Contains(p.RemovingReplicas, r) {
			out = append(out, r)
		}
	}
	return out
}

// Topic is one topic. Like everything reachable from an Image it is
// immutable: read it, never modify it.
type Topic struct {
	Name       string            `json:"name"`
	ID         uuid.UUID         `json:"id"`
	Config     map[string]string `json:"config,omitempty"`
	Partitions []Partition       `json:"partitions"`
}

// ReplicationFactor is the length of the replica lists.
func (t *Topic) ReplicationFactor() int {
	if len(t.Partitions) == 0 {
		return 0
	}
	return len(t.Partitions[0].TargetReplicas())
}

// Image is one immutable version of the cluster metadata: what every node
// gets by applying the raft log up to Version. Images are copy-on-write: a
// new version shares everything it did not change with the previous one, so
// holding an Image is cheap and it never changes under the reader. All
// methods are safe for concurrent use.
type Image struct {
	version        uint64
	brokers        map[int32]*Broker
	topics         map[string]*Topic
	topicNames     map[uuid.UUID]string
	nextProducerID int64
	clusterID      string // "" until a ClusterIDSet applies
	// scramUsers are the SCRAM credentials by user, ordered by mechanism;
	// nil when there are none.
	scramUsers map[string][]ScramCredential
	// acls are the ACLs, ordered by compareACL; replaced, never changed
	// in place.
	acls []ACL
}

// NewImage returns the empty image at version 0.
func NewImage() *Image {
	return &Image{
		brokers:    map[int32]*Broker{},
		topics:     map[string]*Topic{},
		topicNames: map[uuid.UUID]string{},
	}
}

// Version is the raft index of the last entry applied to this image.
func (img *Image) Version() uint64 { return img.version }

// ClusterID is the cluster's id (see NewClusterID), "" until the first
// controller has set it.
func (img *Image) ClusterID() string { return img.clusterID }

// NextProducerID is the first producer id of the next block to allocate.
func (img *Image) NextProducerID() int64 { return img.nextProducerID }

// Broker returns the broker with that id.
func (img *Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	if !ok {
		return Broker{}, false
	}
	return *b, true
}

// Brokers returns all registered brokers ordered by id.
func (img *Image) Brokers() []Broker {
	out := make([]Broker, 0, len(img.brokers))
	for _, b := range img.brokers {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b Broker) int { return int(a.ID) - int(b.ID) })
	return out
}

// Topic returns the topic with that name.
func (img *Image) Topic(name string) (*Topic, bool) {
	t, ok := img.topics[name]
	return t, ok
}

// TopicByID returns the topic with that id.
func (img *Image) TopicByID(id uuid.UUID) (*Topic, bool) {
	name, ok := img.topicNames[id]
	if !ok {
		return nil, false
	}
	return img.topics[name], true
}

// Topics returns all topics ordered by name.
func (img *Image) Topics() []*Topic {
	out := make([]*Topic, 0, len(img.topics))
	for _, t := range img.topics {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Partition returns one partition of the topic with that id.
func (img *Image) Partition(id uuid.UUID, index int32) (Partition, bool) {
	t, ok := img.TopicByID(id)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[index], true
}

// Hash is a hex SHA-256 of the image's canonical serialization (brokers by
// id, topics by name, map keys sorted), leaving out Version. Two nodes that
// applied the same log have the same hash; tests compare it across nodes and
// across restarts.
func (img *Image) Hash() string {
	data, err := encodeSnapshot(img, false)
	if err != nil {
		// encodeSnapshot only marshals plain structs, maps with string keys
		// and slices; it cannot fail.
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// clone returns a shallow copy sharing every map; the caller copies what it
// changes.
func (img *Image) clone() *Image {
	c := *img
	return &c
}
