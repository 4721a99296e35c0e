package kafkaserver

import (
	"bytes"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Inline returns the message a client would decode from r when it answers a
// request of the given key and version, for a caller in the same process
// that takes responses as messages rather than bytes (see
// broker.HandleLocal). Without splices that is r.Msg itself, its version
// set. With splices (a Fetch response whose record batches are file
// regions), r.Msg is encoded with the regions' bytes read from their files,
// as the server would send them, and decoded again into a new message that
// shares nothing with the files: the caller may call r.Release at once.
func (r *Response) Inline(key, version int16) (kmsg.Response, error) {
	if r.Msg == nil {
		if len(r.splices) > 0 {
			return nil, fmt.Errorf("kafkaserver: response has %d splices and no message", len(r.splices))
		}
		return nil, nil
	}
	if r.Msg.Key() != key {
		return nil, fmt.Errorf("kafkaserver: a %s request was answered with a %s response", kmsg.NameForKey(key), kmsg.NameForKey(r.Msg.Key()))
	}
	r.Msg.SetVersion(version)
	if len(r.splices) == 0 {
		return r.Msg, nil
	}
	parts, err := encodeResponse(nil, key, 0, r.Msg, r.splices)
	if err != nil {
		return nil, fmt.Errorf("kafkaserver: encode %s response: %w", kmsg.NameForKey(key), err)
	}
	var frame bytes.Buffer
	var buf []byte
	for _, p := range parts {
		if p.region.File == nil {
			frame.Write(p.bytes)
			continue
		}
		if buf == nil {
			buf = make([]byte, min(copyBufferSize, p.region.Size))
		}
		if _, err := copyRegion(&frame, p.region, buf); err != nil {
			return nil, fmt.Errorf("kafkaserver: read spliced region: %w", err)
		}
	}
	// Skip the size and correlation id, and the header's tagged fields
	// where the response header has them (encodeResponse's layout).
	body := frame.Bytes()[8:]
	if r.Msg.IsFlexible() && key != apiVersionsKey {
		body = body[1:]
	}
	out := kmsg.ResponseForKey(key)
	out.SetVersion(version)
	if err := out.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("kafkaserver: decode inlined %s response: %w", kmsg.NameForKey(key), err)
	}
	return out, nil
}
