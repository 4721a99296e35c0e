package raftnode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// castagnoli is the CRC-32C table shared by WAL records, snapshot files and frames.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WAL record layout, little endian:
//
//	length  uint32  bytes of type+payload
//	crc     uint32  CRC-32C of type+payload
//	type    byte    recHardState, recEntry or recSnapshot
//	payload         protobuf of raftpb.HardState, raftpb.Entry or raftpb.SnapshotMetadata
const (
	recordHeaderLen = 8

	recHardState byte = 1
	recEntry     byte = 2
	recSnapshot  byte = 3
)

// errTornRecord means the bytes end inside a record (or its length runs past
// them): a write cut short by a crash, if nothing valid follows.
var errTornRecord = errors.New("torn record")

// errCorruptRecord means a record's length, CRC or type is wrong.
var errCorruptRecord = errors.New("corrupt record")

// appendRecord appends one framed record to dst.
func appendRecord(dst []byte, typ byte, payload []byte) []byte {
	n := 1 + len(payload)
	var hdr [recordHeaderLen + 1]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(n))
	crc := crc32.Update(0, castagnoli, []byte{typ})
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(hdr[4:8], crc)
	hdr[8] = typ
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// decodeRecord reads the record at the start of b. It returns the record type, its
// payload (aliasing b) and the number of bytes consumed. A record longer than
// maxRecord bytes is corrupt. errTornRecord means b ends before the record does;
// errCorruptRecord that the record is damaged (or b is zero-filled). It never
// allocates in proportion to the claimed length.
func decodeRecord(b []byte, maxRecord int) (typ byte, payload []byte, n int, err error) {
	if len(b) < recordHeaderLen {
		return 0, nil, 0, errTornRecord
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length == 0 {
		return 0, nil, 0, fmt.Errorf("%w: length 0", errCorruptRecord)
	}
	// A length running past the end is what a header written without its
	// body looks like (etcd's decoder says the same), so it is checked before
	// the bound: garbage there is classified by the caller.
	if uint64(length) > uint64(len(b)-recordHeaderLen) {
		return 0, nil, 0, errTornRecord
	}
	if uint64(length) > uint64(maxRecord) {
		return 0, nil, 0, fmt.Errorf("%w: length %d", errCorruptRecord, length)
	}
	end := recordHeaderLen + int(length)
	body := b[recordHeaderLen:end]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, nil, 0, fmt.Errorf("%w: checksum mismatch", errCorruptRecord)
	}
	typ = body[0]
	switch typ {
	case recHardState, recEntry, recSnapshot:
	default:
		return 0, nil, 0, fmt.Errorf("%w: unknown type %d", errCorruptRecord, typ)
	}
	return typ, body[1:], end, nil
}
