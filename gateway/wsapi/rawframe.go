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
	return append(appendTextHeader(dst, len(payload)), payload...)
}

// appendTextFrame2 appends one text frame whose payload is a followed by
// b.
func appendTextFrame2(dst, a, b []byte) []byte {
	dst = appendTextHeader(dst, len(a)+len(b))
	return append(append(dst, a...), b...)
}

// appendTextHeader appends the header of an unfragmented, unmasked text
// frame of n payload bytes.
func appendTextHeader(dst []byte, n int) []byte {
	const finText = 0x81
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
	return dst
}
