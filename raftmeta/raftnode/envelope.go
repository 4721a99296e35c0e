package raftnode

import "encoding/binary"

// Every proposal made through a Node is wrapped in an envelope that names its
// proposer, so that the proposer's waiter can be found when the entry is applied:
//
//	version  byte    envelopeVersion
//	node     uint64  proposing node id
//	epoch    uint64  random per Node start, so that entries proposed before a
//	                 restart never resolve waiters of the new incarnation
//	seq      uint64  per-incarnation proposal number
//	data             the caller's bytes, handed to StateMachine.Apply
//
// Configuration changes carry the same envelope in front of ConfChangeV2.Context.
const (
	envelopeVersion = 0xE1
	envelopeLen     = 1 + 8 + 8 + 8
)

type envelope struct {
	node, epoch, seq uint64
}

func appendEnvelope(dst []byte, e envelope, data []byte) []byte {
	dst = append(dst, envelopeVersion)
	dst = binary.LittleEndian.AppendUint64(dst, e.node)
	dst = binary.LittleEndian.AppendUint64(dst, e.epoch)
	dst = binary.LittleEndian.AppendUint64(dst, e.seq)
	return append(dst, data...)
}

// parseEnvelope splits an entry's data into envelope and payload. ok is false for
// data not written by a Node.
func parseEnvelope(b []byte) (e envelope, data []byte, ok bool) {
	if len(b) < envelopeLen || b[0] != envelopeVersion {
		return envelope{}, nil, false
	}
	e.node = binary.LittleEndian.Uint64(b[1:9])
	e.epoch = binary.LittleEndian.Uint64(b[9:17])
	e.seq = binary.LittleEndian.Uint64(b[17:25])
	return e, b[envelopeLen:], true
}
