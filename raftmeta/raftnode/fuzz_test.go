package raftnode

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// FuzzDecodeRecord feeds arbitrary bytes to the WAL record decoder, the replay
// state and the torn-tail decision: they must never panic, a record the decoder
// accepts must re-encode identically, and a tail judged torn has no valid
// record after its start.
func FuzzDecodeRecord(f *testing.F) {
	var seed []byte
	seed = appendRecord(seed, recEntry, mustMarshal(ent(1, 1, "k=v")))
	seed = appendRecord(seed, recHardState, mustMarshal(hardState(1, 1, 1)))
	seed = appendRecord(seed, recSnapshot, mustMarshal(&pb.SnapshotMetadata{Index: new(uint64(1)), Term: new(uint64(1))}))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2})
	f.Add(append(append([]byte{}, seed...), make([]byte, 600)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := &walState{}
		off := 0
		for off < len(b) {
			typ, payload, n, err := decodeRecord(b[off:], 1<<16)
			if err != nil {
				if torn, _ := tornTail(b, off, err, true, 1<<16); torn && nextValidRecord(b, off+1, 1<<16) >= 0 {
					t.Fatalf("tail at %d judged torn with a valid record after it", off)
				}
				break
			}
			if n <= 0 || off+n > len(b) {
				t.Fatalf("bad consumed length %d", n)
			}
			if re := appendRecord(nil, typ, payload); !bytes.Equal(re, b[off:off+n]) {
				t.Fatal("accepted record does not re-encode to the same bytes")
			}
			_ = st.apply(typ, payload)
			off += n
		}
	})
}

// FuzzReadFrame feeds arbitrary bytes to the transport's frame reader and every
// payload decoder.
func FuzzReadFrame(f *testing.F) {
	m := &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: []*pb.Entry{ent(5, 2, "x")}}
	var seed []byte
	seed = appendFrame(seed, frameHello, encodeHello(hello{clusterID: 7, from: 2, to: 1, addr: "127.0.0.1:9"}))
	seed = appendFrame(seed, frameRaft, mustMarshal(m))
	seed = appendFrame(seed, frameCallReq, encodeCallReq(9, []byte("req")))
	seed = appendFrame(seed, frameCallResp, encodeCallResp(9, callOK, []byte("resp")))
	seed = appendFrame(seed, frameHelloAck, encodeHelloAck(helloRefused, "no"))
	f.Add(seed)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			kind, payload, err := readFrame(r, 1<<16)
			if err != nil {
				return
			}
			switch kind {
			case frameHello:
				_, _ = decodeHello(payload)
			case frameHelloAck:
				_, _, _ = decodeHelloAck(payload)
			case frameRaft:
				_, _ = decodeRaftFrame(payload, 2, 1)
			case frameCallReq:
				_, _, _ = decodeCallReq(payload)
			case frameCallResp:
				_, _, _, _ = decodeCallResp(payload)
			}
		}
	})
}

// FuzzDecodeSnapshotFile checks the snapshot file decoder never panics.
func FuzzDecodeSnapshotFile(f *testing.F) {
	f.Add(encodeSnapshotFile(&pb.Snapshot{Data: []byte("d"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(3)), Term: new(uint64(1))}}))
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeSnapshotFile(b)
	})
}
