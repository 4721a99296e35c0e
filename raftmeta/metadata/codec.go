package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FormatVersion is the newest version of the batch encoding. It covers the
// schema of every record type: a change to any record's fields gets a new
// version, and Decode refuses versions it does not know, so a node never
// half-understands an entry. Encode writes the oldest version that can
// express a batch, so entries that need nothing new stay readable by older
// nodes. Version 2 adds PartitionChanged.Reassign; version 3
// BrokerRegistered.Listeners, tiered storage's fenced RemoteSegmentAdded
// (BrokerID, the segment's LeaderEpoch and MaxTimestamp) and
// RemoteLogStartMoved, and the SCRAM credential
// (UserScramCredentialSet/Deleted) and ACL (ACLsCreated/Deleted) records.
const FormatVersion = 3

// formatVersion returns the oldest version that can express b.
func formatVersion(b Batch) int {
	for _, r := range b.Records {
		if r.BrokerRegistered != nil && len(r.BrokerRegistered.Listeners) > 0 || r.RemoteSegmentAdded != nil || r.RemoteLogStartMoved != nil ||
			r.UserScramCredentialSet != nil || r.UserScramCredentialDeleted != nil || r.ACLsCreated != nil || r.ACLsDeleted != nil {
			return 3
		}
	}
	for _, r := range b.Records {
		if r.PartitionChanged != nil && r.PartitionChanged.Reassign != nil {
			return 2
		}
	}
	return 1
}

// MaxBatchSize bounds an encoded batch. Decode refuses larger input before
// parsing it.
const MaxBatchSize = 8 << 20

// wireBatch is the encoded form of a Batch.
type wireBatch struct {
	V       int      `json:"v"`
	Records []Record `json:"records"`
}

// Encode returns the canonical encoding of b: JSON with fields in declaration
// order and map keys sorted, so equal batches encode to equal bytes.
func Encode(b Batch) ([]byte, error) {
	for i, r := range b.Records {
		if r.Type() == "" {
			return nil, fmt.Errorf("%w: record %d does not have exactly one field set", ErrInvalidRecord, i)
		}
	}
	recs := b.Records
	if recs == nil {
		recs = []Record{}
	}
	out, err := json.Marshal(wireBatch{V: formatVersion(b), Records: recs})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if len(out) > MaxBatchSize {
		return nil, fmt.Errorf("%w: batch of %d bytes exceeds %d", ErrInvalidRecord, len(out), MaxBatchSize)
	}
	return out, nil
}

// MustEncode is Encode for batches built in code that are known to be well
// formed; it panics on error. Tests and the controller use it.
func MustEncode(b Batch) []byte {
	out, err := Encode(b)
	if err != nil {
		panic(err)
	}
	return out
}

// Decode parses an encoded batch. It is safe on untrusted input: any
// malformed, unknown-version, oversized or ambiguous input returns an error
// wrapping ErrInvalidRecord. Decode checks shape only; whether the records
// make sense against the image is Apply's business.
func Decode(data []byte) (Batch, error) {
	if len(data) > MaxBatchSize {
		return Batch{}, fmt.Errorf("%w: batch of %d bytes exceeds %d", ErrInvalidRecord, len(data), MaxBatchSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireBatch
	if err := dec.Decode(&w); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Batch{}, fmt.Errorf("%w: trailing data after batch", ErrInvalidRecord)
	}
	if w.V < 1 || w.V > FormatVersion {
		return Batch{}, fmt.Errorf("%w: format version %d, want 1..%d", ErrInvalidRecord, w.V, FormatVersion)
	}
	if w.Records == nil {
		return Batch{}, fmt.Errorf("%w: missing records", ErrInvalidRecord)
	}
	for i, r := range w.Records {
		if r.Type() == "" {
			return Batch{}, fmt.Errorf("%w: record %d does not have exactly one field set", ErrInvalidRecord, i)
		}
	}
	b := Batch{Records: w.Records}
	if need := formatVersion(b); w.V < need {
		return Batch{}, fmt.Errorf("%w: format version %d batch uses version %d fields", ErrInvalidRecord, w.V, need)
	}
	return b, nil
}
