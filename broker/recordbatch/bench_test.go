package recordbatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch/recordbatchtest"
)

// benchShapes are the batch shapes the log sees most: few large records and
// many small ones.
var benchShapes = []struct {
	name      string
	n, valLen int
}{
	{"16KiB_1KiB_records", 16, 1 << 10},
	{"1000x100B_records", 1000, 100},
}

// reportRecords adds a records/s metric next to the byte throughput.
func reportRecords(b *testing.B, perOp int) {
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkValidate(b *testing.B) {
	for _, s := range benchShapes {
		for _, codec := range []Codec{CodecNone, CodecZstd} {
			b.Run(fmt.Sprintf("%s/%s", s.name, codec), func(b *testing.B) {
				batch := mustBuild(b, BuildOptions{Codec: codec}, simpleRecords(s.n, s.valLen))
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Validate(batch, 1<<20); err != nil {
						b.Fatal(err)
					}
				}
				reportRecords(b, s.n)
			})
		}
	}
}

// BenchmarkValidateProduced is the full produce-path check (Validate plus
// decompression and a walk over every record), to compare with
// BenchmarkValidate, which stops at the CRC.
//
// The text shapes hold recordbatchtest.TextValues, which compress as JSON
// events do; the others repeat one byte and so compress far better than
// real data, which makes decompression look cheap.
func BenchmarkValidateProduced(b *testing.B) {
	shapes := append([]struct {
		name      string
		n, valLen int
	}{{"16x1KB_text", 16, 1000}, {"160x100B_text", 160, 100}}, benchShapes...)
	for _, s := range shapes {
		recs := simpleRecords(s.n, s.valLen)
		if strings.HasSuffix(s.name, "_text") {
			for i, v := range recordbatchtest.TextValues(s.n, s.valLen) {
				recs[i].Value = v
			}
		}
		for _, codec := range allCodecs {
			b.Run(fmt.Sprintf("%s/%s", s.name, codec), func(b *testing.B) {
				batch := mustBuild(b, BuildOptions{Codec: codec}, recs)
				rules := DefaultProduceRules(time.UnixMilli(1_700_000_000_000))
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ValidateProduced(batch, rules); err != nil {
						b.Fatal(err)
					}
				}
				reportRecords(b, s.n)
			})
		}
	}
}

func BenchmarkNext(b *testing.B) {
	var buf []byte
	for range 100 {
		buf = append(buf, mustBuild(b, BuildOptions{}, simpleRecords(10, 100))...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := buf; len(rest) > 0; {
			var err error
			if _, rest, err = Next(rest); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkDecodeRecords(b *testing.B) {
	s := benchShapes[1]
	for _, codec := range allCodecs {
		b.Run(fmt.Sprintf("%s/%s", s.name, codec), func(b *testing.B) {
			batch := mustBuild(b, BuildOptions{Codec: codec}, simpleRecords(s.n, s.valLen))
			dst := make([]Record, 0, s.n)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = DecodeRecords(dst[:0], batch, DecodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reportRecords(b, s.n)
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	s := benchShapes[1]
	recs := simpleRecords(s.n, s.valLen)
	for _, codec := range allCodecs {
		b.Run(fmt.Sprintf("%s/%s", s.name, codec), func(b *testing.B) {
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = AppendBatch(out[:0], BuildOptions{Codec: codec}, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(out)))
			reportRecords(b, s.n)
		})
	}
}
