package tiering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A DirStore object file is a fixed header followed by the object's bytes:
//
//	0  8  magic "RNLTIER1"
//	8  8  object size, big endian
//	16 4  CRC-32C of the object bytes
//	20 8  write time, Unix nanoseconds
//	28 4  CRC-32C of bytes 0..28 (the header itself)
//
// The header makes the checksum travel with the bytes in one file, so one
// link(2) publishes both atomically.
const (
	dirHeaderLen = 32
	dirMagic     = "RNLTIER1"
)

type dirHeader struct {
	size     int64
	crc      uint32
	unixNano int64
}

func (h dirHeader) marshal() []byte {
	b := make([]byte, dirHeaderLen)
	copy(b, dirMagic)
	binary.BigEndian.PutUint64(b[8:], uint64(h.size))
	binary.BigEndian.PutUint32(b[16:], h.crc)
	binary.BigEndian.PutUint64(b[20:], uint64(h.unixNano))
	binary.BigEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

var errBadHeader = errors.New("damaged object header")

// parseDirHeader decodes and checks a header; fileSize is the length of the
// whole file, which must agree with the recorded object size.
func parseDirHeader(b []byte, fileSize int64) (dirHeader, error) {
	if len(b) < dirHeaderLen || string(b[:8]) != dirMagic {
		return dirHeader{}, fmt.Errorf("%w: %w: bad magic", ErrChecksum, errBadHeader)
	}
	if got, want := crc32.Checksum(b[:28], castagnoli), binary.BigEndian.Uint32(b[28:]); got != want {
		return dirHeader{}, fmt.Errorf("%w: %w: header CRC %08x, recorded %08x", ErrChecksum, errBadHeader, got, want)
	}
	h := dirHeader{
		size:     int64(binary.BigEndian.Uint64(b[8:])),
		crc:      binary.BigEndian.Uint32(b[16:]),
		unixNano: int64(binary.BigEndian.Uint64(b[20:])),
	}
	if h.size < 0 || h.size != fileSize-dirHeaderLen {
		return dirHeader{}, fmt.Errorf("%w: %w: records %d bytes, file holds %d", ErrChecksum, errBadHeader, h.size, fileSize-dirHeaderLen)
	}
	return h, nil
}
