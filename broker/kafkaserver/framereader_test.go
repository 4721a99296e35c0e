package kafkaserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkReader returns its data in reads of random sizes, as a socket does.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rng.IntN(100<<10))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestFrameReader reads frames of random sizes (empty, around the slab
// limits, bigger than a slab) arriving in random pieces, keeps some of them
// while reading on and checks that every frame still holds its bytes when
// released, in random order: slabs in use are never written over.
func TestFrameReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 1, 4, slabFrameMax - 1, slabFrameMax, slabFrameMax + 1, slabSize - 4, slabSize, 3 * slabSize}
	for range 400 {
		sizes = append(sizes, rng.IntN(40<<10))
	}
	rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	var stream []byte
	for i, n := range sizes {
		stream = binary.BigEndian.AppendUint32(stream, uint32(n))
		stream = append(stream, pattern(n, byte(i))...)
	}
	fr := newFrameReader(&chunkReader{data: stream, rng: rng})
	defer fr.close()
	type held struct {
		f frame
		i int
	}
	var keep []held
	admitted := 0
	check := func(h held) {
		if want := pattern(sizes[h.i], byte(h.i)); !bytes.Equal(h.f.b, want) {
			t.Fatalf("frame %d (%d bytes) changed before its release", h.i, sizes[h.i])
		}
		h.f.release()
	}
	for i := range sizes {
		f, err := fr.next(4<<20, func(n int) error { admitted += n; return nil })
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		keep = append(keep, held{f, i})
		for len(keep) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(keep))
			check(keep[k])
			keep = append(keep[:k], keep[k+1:]...)
		}
	}
	rng.Shuffle(len(keep), func(i, j int) { keep[i], keep[j] = keep[j], keep[i] })
	for _, h := range keep {
		check(h)
	}
	if _, err := fr.next(4<<20, func(int) error { return nil }); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	total := 0
	for _, n := range sizes {
		total += n
	}
	if admitted != total {
		t.Fatalf("admitted %d bytes, frames hold %d", admitted, total)
	}
}

// TestFrameReaderBadInput refuses oversized frames before reading them,
// reports a stream cut inside a frame, and passes admit's error on.
func TestFrameReaderBadInput(t *testing.T) {
	next := func(data []byte, admit func(int) error) error {
		fr := newFrameReader(bytes.NewReader(data))
		defer fr.close()
		f, err := fr.next(1000, admit)
		f.release()
		return err
	}
	ok := func(int) error { return nil }
	var sizeErr *frameSizeError
	if err := next([]byte{0, 0, 0x10, 0}, ok); !errors.As(err, &sizeErr) {
		t.Fatalf("4096-byte frame over a 1000-byte limit: %v", err)
	}
	if err := next([]byte{0xff, 0xff, 0xff, 0xff}, ok); !errors.As(err, &sizeErr) {
		t.Fatalf("negative size: %v", err)
	}
	if err := next([]byte{0, 0, 0, 10, 1, 2, 3}, ok); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v", err)
	}
	if err := next([]byte{0, 0}, ok); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut size prefix: %v", err)
	}
	refused := errors.New("refused")
	if err := next([]byte{0, 0, 0, 1, 7}, func(int) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("admit error: %v", err)
	}
}
