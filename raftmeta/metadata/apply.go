package metadata

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/internal/plural"
)

// Apply returns the image that results from applying b at raft index index,
// or an error wrapping a sentinel (inside a *RecordError) if any record is
// rejected, in which case nothing changes. img itself is never modified.
//
// Apply is deterministic: the result depends only on img, index and b. The
// controller calls it on a scratch copy to check a change before proposing
// it; the state machine calls it for every committed entry.
func (img *Image) Apply(index uint64, b Batch) (*Image, error) {
	w := &writer{img: img.clone(), index: index}
	w.img.version = index
	for i, r := range b.Records {
		if err := w.apply(r); err != nil {
			return nil, &RecordError{Index: i, Type: r.Type(), Err: err}
		}
	}
	return w.img, nil
}

// writer applies records to a private copy of an image, copying each shared
// map the first time it changes it.
type writer struct {
	img                                  *Image
	index                                uint64
	ownBrokers, ownTopics, ownTopicNames bool
	ownScramUsers                        bool
}

// putBroker stores b, copying the broker map on first write.
func (w *writer) putBroker(b *Broker) {
	if !w.ownBrokers {
		w.img.brokers = maps.Clone(w.img.brokers)
		w.ownBrokers = true
	}
	w.img.brokers[b.ID] = b
}

// putTopic stores t by name and id, copying the maps on first write.
func (w *writer) putTopic(t *Topic) {
	if !w.ownTopics {
		w.img.topics = maps.Clone(w.img.topics)
		w.ownTopics = true
	}
	w.img.topics[t.Name] = t
	if name, ok := w.img.topicNames[t.ID]; ok && name == t.Name {
		// A changed topic keeps its id: the id map need not be copied.
		return
	}
	if !w.ownTopicNames {
		w.img.topicNames = maps.Clone(w.img.topicNames)
		w.ownTopicNames = true
	}
	w.img.topicNames[t.ID] = t.Name
}

// deleteTopic removes t, copying the maps on first write.
func (w *writer) deleteTopic(t *Topic) {
	if !w.ownTopics {
		w.img.topics = maps.Clone(w.img.topics)
		w.ownTopics = true
	}
	if !w.ownTopicNames {
		w.img.topicNames = maps.Clone(w.img.topicNames)
		w.ownTopicNames = true
	}
	delete(w.img.topics, t.Name)
	delete(w.img.topicNames, t.ID)
}

// topic looks a topic up by id.
func (w *writer) topic(id uuid.UUID) (*Topic, error) {
	t, ok := w.img.TopicByID(id)
	if !ok {
		return nil, rejectf(ErrUnknownTopic, "id %s", id)
	}
	return t, nil
}

// partition looks a partition up and returns a copy of its topic with its own
// partition slice, ready to be changed and put back.
func (w *writer) partition(id uuid.UUID, index int32) (*Topic, *Partition, error) {
	t, err := w.topic(id)
	if err != nil {
		return nil, nil, err
	}
	if index < 0 || int(index) >= len(t.Partitions) {
		return nil, nil, rejectf(ErrUnknownPartition, "topic %q partition %d (has %d)", t.Name, index, len(t.Partitions))
	}
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	return &c, &c.Partitions[index], nil
}

// apply validates r against the working image and applies it.
func (w *writer) apply(r Record) error {
	switch {
	case r.BrokerRegistered != nil:
		return w.brokerRegistered(r.BrokerRegistered)
	case r.BrokerFenced != nil:
		return w.brokerFencing(r.BrokerFenced.ID, r.BrokerFenced.Epoch, true)
	case r.BrokerUnfenced != nil:
		return w.brokerFencing(r.BrokerUnfenced.ID, r.BrokerUnfenced.Epoch, false)
	case r.TopicCreated != nil:
		return w.topicCreated(r.TopicCreated)
	case r.TopicDeleted != nil:
		t, err := w.topic(r.TopicDeleted.ID)
		if err != nil {
			return err
		}
		w.deleteTopic(t)
		return nil
	case r.TopicConfigChanged != nil:
		return w.topicConfigChanged(r.TopicConfigChanged)
	case r.PartitionsCreated != nil:
		return w.partitionsCreated(r.PartitionsCreated)
	case r.PartitionChanged != nil:
		return w.partitionChanged(r.PartitionChanged)
	case r.ProducerIDsAllocated != nil:
		return w.producerIDsAllocated(r.ProducerIDsAllocated)
	case r.RemoteSegmentAdded != nil:
		return w.remoteSegmentAdded(r.RemoteSegmentAdded)
	case r.RemoteSegmentRemoved != nil:
		return w.remoteSegmentRemoved(r.RemoteSegmentRemoved)
	case r.RemoteLogStartMoved != nil:
		return w.remoteLogStartMoved(r.RemoteLogStartMoved)
	case r.ClusterIDSet != nil:
		return w.clusterIDSet(r.ClusterIDSet)
	case r.UserScramCredentialSet != nil:
		return w.userScramCredentialSet(r.UserScramCredentialSet)
	case r.UserScramCredentialDeleted != nil:
		return w.userScramCredentialDeleted(r.UserScramCredentialDeleted)
	case r.ACLsCreated != nil:
		return w.aclsCreated(r.ACLsCreated)
	case r.ACLsDeleted != nil:
		return w.aclsDeleted(r.ACLsDeleted)
	}
	return rejectf(ErrInvalidRecord, "record does not have exactly one field set")
}

// brokerRegistered applies a BrokerRegistered record.
func (w *writer) brokerRegistered(r *BrokerRegistered) error {
	if r.ID < 0 || r.Addr == "" || len(r.Addr) > maxStringLength || len(r.Rack) > maxStringLength || r.Incarnation == uuid.Nil {
		return rejectf(ErrInvalidBroker, "broker %d addr %q incarnation %s", r.ID, r.Addr, r.Incarnation)
	}
	if err := validEndpoints(r.ID, r.Listeners); err != nil {
		return err
	}
	b := &Broker{ID: r.ID, Addr: r.Addr, Rack: r.Rack, Incarnation: r.Incarnation, Epoch: w.index, Fenced: true, Listeners: r.Listeners}
	if old, ok := w.img.brokers[r.ID]; ok && old.Incarnation == r.Incarnation {
		// The same process registering again (a retry): keep its epoch and
		// fencing state.
		b.Epoch, b.Fenced = old.Epoch, old.Fenced
	}
	w.putBroker(b)
	return nil
}

// validEndpoints checks a registration's listeners: bounded, named
// uniquely, each with an address.
func validEndpoints(id int32, eps []Endpoint) error {
	if len(eps) > maxEndpoints {
		return rejectf(ErrInvalidBroker, "broker %d registers %d listeners, more than %d", id, len(eps), maxEndpoints)
	}
	seen := make(map[string]bool, len(eps))
	for _, e := range eps {
		if e.Name == "" || e.Addr == "" || len(e.Name) > maxStringLength || len(e.Addr) > maxStringLength || seen[e.Name] {
			return rejectf(ErrInvalidBroker, "broker %d listener %q addr %q (empty, too long or named twice)", id, e.Name, e.Addr)
		}
		seen[e.Name] = true
	}
	return nil
}

// brokerFencing applies BrokerFenced (fence=true) or BrokerUnfenced.
func (w *writer) brokerFencing(id int32, epoch uint64, fence bool) error {
	old, ok := w.img.brokers[id]
	if !ok {
		return rejectf(ErrUnknownBroker, "broker %d", id)
	}
	if old.Epoch != epoch {
		return rejectf(ErrStaleBrokerEpoch, "broker %d epoch %d, record says %d", id, old.Epoch, epoch)
	}
	if old.Fenced == fence {
		return rejectf(ErrBrokerState, "broker %d fenced=%v already", id, fence)
	}
	b := *old
	b.Fenced = fence
	w.putBroker(&b)
	return nil
}

// topicCreated applies a TopicCreated record.
func (w *writer) topicCreated(r *TopicCreated) error {
	if err := validateTopicName(r.Name); err != nil {
		return err
	}
	if r.ID == uuid.Nil {
		return rejectf(ErrInvalidRecord, "topic %q has the nil id", r.Name)
	}
	if _, ok := w.img.topics[r.Name]; ok {
		return rejectf(ErrTopicExists, "name %q", r.Name)
	}
	if _, ok := w.img.topicNames[r.ID]; ok {
		return rejectf(ErrTopicExists, "id %s", r.ID)
	}
	if len(r.Partitions) > MaxPartitions {
		return rejectf(ErrInvalidPartitions, "%d partitions, max %d", len(r.Partitions), MaxPartitions)
	}
	if err := validateConfig(r.Config); err != nil {
		return err
	}
	if err := checkPartitionStates(w.img, r.Partitions, 0); err != nil {
		return err
	}
	t := &Topic{Name: r.Name, ID: r.ID, Partitions: make([]Partition, 0, len(r.Partitions))}
	if len(r.Config) > 0 {
		t.Config = maps.Clone(r.Config)
	}
	t.Partitions = appendPartitions(t.Partitions, r.Partitions)
	w.putTopic(t)
	return nil
}

// appendPartitions appends new partitions with epochs 0, copying the slices
// so the image does not share memory with the record.
func appendPartitions(dst []Partition, parts []PartitionState) []Partition {
	for _, p := range parts {
		dst = append(dst, Partition{
			Index:    int32(len(dst)),
			Replicas: slices.Clone(p.Replicas),
			ISR:      slices.Clone(p.ISR),
			Leader:   p.Leader,
		})
	}
	return dst
}

// topicConfigChanged applies a TopicConfigChanged record.
func (w *writer) topicConfigChanged(r *TopicConfigChanged) error {
	t, err := w.topic(r.ID)
	if err != nil {
		return err
	}
	if err := validateConfig(r.Set); err != nil {
		return err
	}
	for _, k := range r.Delete {
		if k == "" || len(k) > maxStringLength {
			return rejectf(ErrInvalidConfig, "empty or too long key to delete")
		}
		if _, ok := r.Set[k]; ok {
			return rejectf(ErrInvalidConfig, "key %q both set and deleted", k)
		}
	}
	cfg := maps.Clone(t.Config)
	if cfg == nil {
		cfg = map[string]string{}
	}
	maps.Copy(cfg, r.Set)
	for _, k := range r.Delete {
		delete(cfg, k)
	}
	c := *t
	c.Config = cfg
	if len(cfg) == 0 {
		c.Config = nil
	}
	w.putTopic(&c)
	return nil
}

// partitionsCreated applies a PartitionsCreated record.
func (w *writer) partitionsCreated(r *PartitionsCreated) error {
	t, err := w.topic(r.ID)
	if err != nil {
		return err
	}
	if int(r.From) != len(t.Partitions) {
		return rejectf(ErrInvalidPartitions, "topic %q has %s, record adds from %d", t.Name, plural.Noun(len(t.Partitions), "partition"), r.From)
	}
	if len(t.Partitions)+len(r.Partitions) > MaxPartitions {
		return rejectf(ErrInvalidPartitions, "topic %q would have more than %d partitions", t.Name, MaxPartitions)
	}
	if err := checkPartitionStates(w.img, r.Partitions, t.ReplicationFactor()); err != nil {
		return err
	}
	c := *t
	c.Partitions = appendPartitions(slices.Clip(slices.Clone(t.Partitions)), r.Partitions)
	w.putTopic(&c)
	return nil
}

// partitionChanged applies a PartitionChanged record with Kafka's epoch
// rules.
func (w *writer) partitionChanged(r *PartitionChanged) error {
	t, p, err := w.partition(r.ID, r.Partition)
	if err != nil {
		return err
	}
	if p.PartitionEpoch != r.PartitionEpoch {
		return rejectf(ErrStalePartitionEpoch, "topic %q partition %d is at epoch %d, change computed at %d", t.Name, r.Partition, p.PartitionEpoch, r.PartitionEpoch)
	}
	replicas := p.Replicas
	if r.Reassign != nil {
		if err := checkReassignment(w.img, r.Reassign); err != nil {
			return err
		}
		replicas = r.Reassign.Replicas
	}
	if err := checkISR(replicas, r.ISR, r.Leader); err != nil {
		return err
	}
	if r.Leader != NoLeader && w.img.brokers[r.Leader].Fenced {
		return rejectf(ErrIneligibleReplica, "leader %d is fenced", r.Leader)
	}
	for _, b := range r.ISR {
		if !slices.Contains(p.ISR, b) && w.img.brokers[b].Fenced {
			return rejectf(ErrIneligibleReplica, "new ISR member %d is fenced", b)
		}
	}
	if p.PartitionEpoch == math.MaxInt32 || p.LeaderEpoch == math.MaxInt32 {
		return rejectf(ErrInvalidPartitions, "topic %q partition %d epochs exhausted", t.Name, r.Partition)
	}
	if r.Leader != p.Leader || (r.Reassign != nil && !slices.Equal(r.Reassign.Replicas, p.Replicas)) {
		p.LeaderEpoch++
	}
	p.PartitionEpoch++
	p.Leader = r.Leader
	p.ISR = slices.Clone(r.ISR)
	if r.Reassign != nil {
		p.Replicas = slices.Clone(r.Reassign.Replicas)
		p.AddingReplicas = slices.Clone(r.Reassign.Adding)
		p.RemovingReplicas = slices.Clone(r.Reassign.Removing)
	}
	w.putTopic(t)
	return nil
}

// clusterIDSet applies a ClusterIDSet record.
func (w *writer) clusterIDSet(r *ClusterIDSet) error {
	if err := ValidateClusterID(r.ID); err != nil {
		return err
	}
	if w.img.clusterID != "" {
		return rejectf(ErrClusterIDSet, "the cluster id is %q already", w.img.clusterID)
	}
	w.img.clusterID = r.ID
	return nil
}

// producerIDsAllocated applies a ProducerIDsAllocated record.
func (w *writer) producerIDsAllocated(r *ProducerIDsAllocated) error {
	if _, ok := w.img.brokers[r.BrokerID]; !ok {
		return rejectf(ErrUnknownBroker, "broker %d", r.BrokerID)
	}
	if r.Count < 1 || r.Count > MaxProducerIDBlock {
		return rejectf(ErrInvalidProducerIDBlock, "count %d not in 1..%d", r.Count, MaxProducerIDBlock)
	}
	if r.First != w.img.nextProducerID {
		return rejectf(ErrStaleProducerIDBlock, "next producer id is %d, record allocates from %d", w.img.nextProducerID, r.First)
	}
	if r.First > math.MaxInt64-int64(r.Count) {
		return rejectf(ErrInvalidProducerIDBlock, "producer ids exhausted")
	}
	w.img.nextProducerID = r.First + int64(r.Count)
	return nil
}

// remoteSegmentAdded applies a RemoteSegmentAdded record.
func (w *writer) remoteSegmentAdded(r *RemoteSegmentAdded) error {
	s := r.Segment
	if s.ObjectKey == "" || len(s.ObjectKey) > maxStringLength || s.BaseOffset < 0 || s.EndOffset < s.BaseOffset || s.Size <= 0 || s.LeaderEpoch < 0 {
		return rejectf(ErrInvalidRemoteSegment, "key %q offsets [%d,%d] size %d", s.ObjectKey, s.BaseOffset, s.EndOffset, s.Size)
	}
	t, p, err := w.partition(r.ID, r.Partition)
	if err != nil {
		return err
	}
	if p.Leader != r.BrokerID || p.LeaderEpoch != s.LeaderEpoch {
		return rejectf(ErrFencedRemoteUpload, "topic %q partition %d: uploaded by broker %d at leader epoch %d, the leader is %d at epoch %d",
			t.Name, r.Partition, r.BrokerID, s.LeaderEpoch, p.Leader, p.LeaderEpoch)
	}
	if slices.ContainsFunc(p.RemoteSegments, func(x RemoteSegment) bool { return x.ObjectKey == s.ObjectKey }) {
		return rejectf(ErrRemoteSegmentExists, "topic %q partition %d key %q", t.Name, r.Partition, s.ObjectKey)
	}
	if end := p.RemoteEndOffset(); s.EndOffset <= end {
		return rejectf(ErrRemoteSegmentBehind, "topic %q partition %d: segment [%d,%d] ends at or before the remote end offset %d", t.Name, r.Partition, s.BaseOffset, s.EndOffset, end)
	}
	segs := append(slices.Clone(p.RemoteSegments), s)
	slices.SortFunc(segs, func(a, b RemoteSegment) int {
		if a.BaseOffset != b.BaseOffset {
			if a.BaseOffset < b.BaseOffset {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ObjectKey, b.ObjectKey)
	})
	p.RemoteSegments = segs
	w.putTopic(t)
	return nil
}

// remoteSegmentRemoved applies a RemoteSegmentRemoved record.
func (w *writer) remoteSegmentRemoved(r *RemoteSegmentRemoved) error {
	t, p, err := w.partition(r.ID, r.Partition)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(p.RemoteSegments, func(x RemoteSegment) bool { return x.ObjectKey == r.ObjectKey })
	if i < 0 {
		return rejectf(ErrUnknownRemoteSegment, "topic %q partition %d key %q", t.Name, r.Partition, r.ObjectKey)
	}
	p.RemoteSegments = slices.Delete(slices.Clone(p.RemoteSegments), i, i+1)
	if len(p.RemoteSegments) == 0 {
		p.RemoteSegments = nil
	}
	w.putTopic(t)
	return nil
}
