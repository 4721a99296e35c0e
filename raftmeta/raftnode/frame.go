package raftnode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Transport frame layout, little endian:
//
//	length  uint32  bytes of kind+payload
//	crc     uint32  CRC-32C of kind+payload
//	kind    byte    frameHello ... frameCallResp
//	payload
//
// A connection starts with frameHello from the dialer, answered by frameHelloAck.
// After that the dialer sends frameRaft and frameCallReq frames and the acceptor
// answers calls with frameCallResp on the same connection. Raft messages from the
// acceptor to the dialer travel on the acceptor's own outgoing connection.
const (
	frameHeaderLen = 8

	frameHello    byte = 1
	frameHelloAck byte = 2
	frameRaft     byte = 3
	frameCallReq  byte = 4
	frameCallResp byte = 5

	helloMagic   = "RNLT"
	helloVersion = 1
	// maxHelloFrame bounds frames before the handshake is done, so that garbage from
	// an unknown peer never makes us allocate much.
	maxHelloFrame = 1024
	// frameOverhead is the room reserved for frame and call headers on top of
	// Config.MaxMessageBytes.
	frameOverhead = 64
	// directReadLimit: bodies up to this size are read into one allocation; larger
	// ones grow with the bytes actually received.
	directReadLimit = 64 << 10

	callOK        byte = 0
	callErr       byte = 1
	callNoHandler byte = 2
	callBusy      byte = 3

	helloOK      byte = 0
	helloRefused byte = 1
)

var errBadFrame = errors.New("bad frame")

func appendFrameHeader(dst []byte, kind byte, payload []byte) []byte {
	var hdr [frameHeaderLen + 1]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(1+len(payload)))
	crc := crc32.Update(0, castagnoli, []byte{kind})
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(hdr[4:8], crc)
	hdr[8] = kind
	return append(dst, hdr[:]...)
}

// appendFrame appends a whole frame to dst.
func appendFrame(dst []byte, kind byte, payload []byte) []byte {
	return append(appendFrameHeader(dst, kind, payload), payload...)
}

// readFrame reads one frame of at most max bytes (kind+payload). It never
// allocates much more than the bytes actually received, whatever the header claims.
func readFrame(r io.Reader, max int) (kind byte, payload []byte, err error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("%w: length %d (limit %d)", errBadFrame, n, max)
	}
	var body []byte
	if n <= directReadLimit {
		body = make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, nil, noEOF(err)
		}
	} else {
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
			return 0, nil, noEOF(err)
		}
		body = buf.Bytes()
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return 0, nil, fmt.Errorf("%w: checksum mismatch", errBadFrame)
	}
	return body[0], body[1:], nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// hello is the handshake a dialer sends first.
type hello struct {
	clusterID, from, to uint64
	addr                string // the dialer's own listen address, so the acceptor can answer
}

func encodeHello(h hello) []byte {
	b := make([]byte, 0, 4+1+24+2+len(h.addr))
	b = append(b, helloMagic...)
	b = append(b, helloVersion)
	b = binary.LittleEndian.AppendUint64(b, h.clusterID)
	b = binary.LittleEndian.AppendUint64(b, h.from)
	b = binary.LittleEndian.AppendUint64(b, h.to)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.addr)))
	return append(b, h.addr...)
}

func decodeHello(b []byte) (hello, error) {
	const fixed = 4 + 1 + 24 + 2
	if len(b) < fixed || string(b[:4]) != helloMagic {
		return hello{}, fmt.Errorf("%w: not a raftnode handshake", errBadFrame)
	}
	if b[4] != helloVersion {
		return hello{}, fmt.Errorf("%w: handshake version %d, want %d", errBadFrame, b[4], helloVersion)
	}
	h := hello{
		clusterID: binary.LittleEndian.Uint64(b[5:13]),
		from:      binary.LittleEndian.Uint64(b[13:21]),
		to:        binary.LittleEndian.Uint64(b[21:29]),
	}
	n := int(binary.LittleEndian.Uint16(b[29:31]))
	if len(b) != fixed+n {
		return hello{}, fmt.Errorf("%w: handshake address length", errBadFrame)
	}
	h.addr = string(b[fixed:])
	if h.from == 0 || h.to == 0 {
		return hello{}, fmt.Errorf("%w: handshake node id 0", errBadFrame)
	}
	return h, nil
}

func encodeHelloAck(status byte, msg string) []byte {
	return append([]byte{status}, msg...)
}

func decodeHelloAck(b []byte) (status byte, msg string, err error) {
	if len(b) < 1 || b[0] > helloRefused {
		return 0, "", fmt.Errorf("%w: bad handshake answer", errBadFrame)
	}
	return b[0], string(b[1:]), nil
}

// decodeRaftFrame decodes a raft message and checks it is addressed from `from` to
// `to` and is a message type peers may send.
func decodeRaftFrame(b []byte, from, to uint64) (*pb.Message, error) {
	m := &pb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: raft message: %v", errBadFrame, err)
	}
	// A forwarded MsgTransferLeader names the transferee, not the sender, in From.
	if (m.GetFrom() != from && m.GetType() != pb.MsgTransferLeader) || m.GetTo() != to {
		return nil, fmt.Errorf("%w: raft message %d->%d on connection %d->%d", errBadFrame, m.GetFrom(), m.GetTo(), from, to)
	}
	if !isPeerMessage(m.GetType()) {
		return nil, fmt.Errorf("%w: raft message type %v not allowed from a peer", errBadFrame, m.GetType())
	}
	if m.GetType() == pb.MsgSnap && m.GetSnapshot().GetMetadata().GetIndex() == 0 {
		return nil, fmt.Errorf("%w: snapshot message without snapshot", errBadFrame)
	}
	return m, nil
}

func isPeerMessage(t pb.MessageType) bool {
	switch t {
	case pb.MsgProp, pb.MsgApp, pb.MsgAppResp, pb.MsgVote, pb.MsgVoteResp, pb.MsgSnap,
		pb.MsgHeartbeat, pb.MsgHeartbeatResp, pb.MsgTransferLeader, pb.MsgTimeoutNow,
		pb.MsgReadIndex, pb.MsgReadIndexResp, pb.MsgPreVote, pb.MsgPreVoteResp, pb.MsgForgetLeader:
		return true
	}
	return false
}

func encodeCallReq(id uint64, req []byte) []byte {
	b := make([]byte, 8, 8+len(req))
	binary.LittleEndian.PutUint64(b, id)
	return append(b, req...)
}

func decodeCallReq(b []byte) (id uint64, req []byte, err error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: short call request", errBadFrame)
	}
	return binary.LittleEndian.Uint64(b), b[8:], nil
}

func encodeCallResp(id uint64, status byte, body []byte) []byte {
	b := make([]byte, 9, 9+len(body))
	binary.LittleEndian.PutUint64(b, id)
	b[8] = status
	return append(b, body...)
}

func decodeCallResp(b []byte) (id uint64, status byte, body []byte, err error) {
	if len(b) < 9 || b[8] > callBusy {
		return 0, 0, nil, fmt.Errorf("%w: bad call response", errBadFrame)
	}
	return binary.LittleEndian.Uint64(b), b[8], b[9:], nil
}
