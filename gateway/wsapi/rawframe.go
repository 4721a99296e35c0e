package wsapi

import "encoding/binary"

// maxCoalescedBytes bounds the frames the writer gathers for one write to
// the connection.
const maxCoalescedBytes = 256 << 10

// appendTextFrame appends payload as one unfragmented, unmasked text frame
// (RFC 6455 section 5.2), as a server sends it.
//
// The writer encodes data frames itself so that every frame it has queued
// goes to the kernel in one write: with gorilla's WriteMessage each
// message is a write(2) of its own, which at hundreds of thousands of
// events a second costs more than the rest of the gateway together.
// gorilla still writes the control frames (ping, pong, close), each in one
// net.Conn.Write, and a net.Conn never interleaves two Writes, so frames
// stay whole.
func appendTextFrame(dst, payload []byte) []byte {
	const finText = 0x81
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n <= 0xffff:
		dst = append(dst, finText, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, finText, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}
