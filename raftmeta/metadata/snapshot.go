package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// ErrInvalidSnapshot means snapshot bytes do not decode to a consistent
// image. The snapshot is damaged or from a newer version; restore from a
// peer instead.
var ErrInvalidSnapshot = errors.New("metadata: invalid snapshot")

// snapshotVersion is the version of the snapshot encoding.
const snapshotVersion = 1

// wireSnapshot is the canonical serialization of an Image.
type wireSnapshot struct {
	V              int      `json:"v"`
	Version        uint64   `json:"version"`
	NextProducerID int64    `json:"next_producer_id"`
	ClusterID      string   `json:"cluster_id,omitempty"`
	Brokers        []Broker `json:"brokers"`
	Topics         []*Topic `json:"topics"`
	// ScramUsers is left out when empty, so images without SCRAM users
	// encode (and hash) as before.
	ScramUsers []ScramUser `json:"scram_users,omitempty"`
	ACLs       []ACL       `json:"acls,omitempty"`
}

// encodeSnapshot serializes img canonically. withVersion=false leaves the
// version out, for Hash.
func encodeSnapshot(img *Image, withVersion bool) ([]byte, error) {
	w := wireSnapshot{
		V:              snapshotVersion,
		NextProducerID: img.nextProducerID,
		ClusterID:      img.clusterID,
		Brokers:        img.Brokers(),
		Topics:         img.Topics(),
	}
	if len(img.scramUsers) > 0 {
		w.ScramUsers = img.ScramUsers()
	}
	w.ACLs = img.acls
	if withVersion {
		w.Version = img.version
	}
	return json.Marshal(w)
}

// Marshal returns the snapshot encoding of the image, version included.
func (img *Image) Marshal() ([]byte, error) { return encodeSnapshot(img, true) }

// UnmarshalImage decodes a snapshot made by Marshal and checks that it is
// consistent (unique ids and names, replicas registered, leaders in ISRs).
func UnmarshalImage(data []byte) (*Image, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireSnapshot
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidSnapshot)
	}
	if w.V != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrInvalidSnapshot, w.V, snapshotVersion)
	}
	img := NewImage()
	img.version = w.Version
	if w.NextProducerID < 0 {
		return nil, fmt.Errorf("%w: negative next producer id", ErrInvalidSnapshot)
	}
	img.nextProducerID = w.NextProducerID
	if w.ClusterID != "" {
		if err := ValidateClusterID(w.ClusterID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
		}
		img.clusterID = w.ClusterID
	}
	for i := range w.Brokers {
		b := w.Brokers[i]
		if _, dup := img.brokers[b.ID]; dup || b.ID < 0 {
			return nil, fmt.Errorf("%w: broker %d duplicated or invalid", ErrInvalidSnapshot, b.ID)
		}
		if err := validEndpoints(b.ID, b.Listeners); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
		}
		img.brokers[b.ID] = &b
	}
	for _, t := range w.Topics {
		if t == nil || validateTopicName(t.Name) != nil || t.ID == uuid.Nil {
			return nil, fmt.Errorf("%w: invalid topic", ErrInvalidSnapshot)
		}
		if _, dup := img.topics[t.Name]; dup {
			return nil, fmt.Errorf("%w: topic %q duplicated", ErrInvalidSnapshot, t.Name)
		}
		if _, dup := img.topicNames[t.ID]; dup {
			return nil, fmt.Errorf("%w: topic id %s duplicated", ErrInvalidSnapshot, t.ID)
		}
		for i, p := range t.Partitions {
			if p.Index != int32(i) {
				return nil, fmt.Errorf("%w: topic %q partition %d has index %d", ErrInvalidSnapshot, t.Name, i, p.Index)
			}
			if err := checkReplicas(img, p.Replicas); err != nil {
				return nil, fmt.Errorf("%w: topic %q partition %d: %v", ErrInvalidSnapshot, t.Name, i, err)
			}
			if err := checkISR(p.Replicas, p.ISR, p.Leader); err != nil {
				return nil, fmt.Errorf("%w: topic %q partition %d: %v", ErrInvalidSnapshot, t.Name, i, err)
			}
		}
		img.topics[t.Name] = t
		img.topicNames[t.ID] = t.Name
	}
	if err := loadScramUsers(img, w.ScramUsers); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if err := loadACLs(img, w.ACLs); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	return img, nil
}
