package kafkaserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allKmsgAPIs is a table of every key and version kmsg can decode, so the
// fuzzer reaches every decoder.
func allKmsgAPIs() *apiTable {
	apis := map[int16]VersionRange{}
	for key := int16(0); key < 1000; key++ {
		if key == apiVersionsKey {
			continue
		}
		if r := kmsg.RequestForKey(key); r != nil {
			apis[key] = VersionRange{Min: 0, Max: r.MaxVersion()}
		}
	}
	return newAPITable(apis, nil)
}

// fuzzSeeds are valid frames (size prefix removed) for a few keys and
// versions, some with their headers or bodies damaged.
func fuzzSeeds() [][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed-client"))
	frame := func(r kmsg.Request, v int16) []byte {
		r.SetVersion(v)
		return f.AppendRequest(nil, r, 42)[4:]
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "events"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "events"
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fetch.Topics = append(fetch.Topics, ft)

	meta := kmsg.NewPtrMetadataRequest()
	meta.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("events")}}

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "franz-go", "1.22"

	seeds := [][]byte{
		frame(produce, 3), frame(produce, 9),
		frame(fetch, 4), frame(fetch, 12), frame(fetch, 16),
		frame(meta, 0), frame(meta, 9), frame(meta, 12),
		frame(av, 0), frame(av, 3),
		frame(kmsg.NewPtrControlledShutdownRequest(), 0),
		frame(kmsg.NewPtrFindCoordinatorRequest(), 4),
	}
	good := frame(fetch, 12)
	seeds = append(seeds,
		nil,
		good[:7],                                // short header
		good[:len(good)-5],                      // truncated body
		append([]byte{0x27, 0x0f}, good[2:]...), // unknown key
		append([]byte{0, 1, 0x7f, 0}, good[4:]...), // unknown version
		append(good[:8:8], 0xff, 0xfe),             // bad client id length
		append(good[:21:21], 0xff, 0xff, 0xff),     // bad header tags
	)
	return seeds
}

// FuzzParseRequest checks that any frame either decodes or fails cleanly,
// and that what decodes re-encodes to bytes that decode to the same.
func FuzzParseRequest(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	apis := allKmsgAPIs()
	f.Fuzz(func(t *testing.T, frame []byte) {
		hdr, req, err := parseRequest(frame, apis)
		if err != nil {
			var unsupported *unsupportedError
			if !errors.Is(err, errMalformed) && !errors.As(err, &unsupported) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if req.Key() != hdr.key || req.GetVersion() != hdr.version {
			t.Fatalf("decoded %d v%d from header %d v%d", req.Key(), req.GetVersion(), hdr.key, hdr.version)
		}
		again := appendFrame(nil, hdr, req)
		hdr2, req2, err := parseRequest(again, apis)
		if err != nil {
			t.Fatalf("re-encoded %s v%d does not decode: %v", kmsg.NameForKey(hdr.key), hdr.version, err)
		}
		if hdr2.correlationID != hdr.correlationID || (hdr2.clientID == nil) != (hdr.clientID == nil) {
			t.Fatalf("header changed: %+v then %+v", hdr, hdr2)
		}
		third := appendFrame(nil, hdr2, req2)
		if !bytes.Equal(again, third) {
			t.Fatalf("%s v%d encoding not stable:\n%x\n%x", kmsg.NameForKey(hdr.key), hdr.version, again, third)
		}
	})
}

// appendFrame encodes a request frame without its size prefix. It does not
// use kmsg.RequestFormatter, which drops the body of ControlledShutdown v0.
func appendFrame(dst []byte, hdr requestHeader, req kmsg.Request) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(hdr.key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(hdr.version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.correlationID))
	if !(hdr.key == 7 && hdr.version == 0) {
		if hdr.clientID == nil {
			dst = append(dst, 0xff, 0xff)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(*hdr.clientID)))
			dst = append(dst, *hdr.clientID...)
		}
	}
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	return req.AppendTo(dst)
}
