package metadata

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Whatever decodes must encode
// canonically (a second round trip is a fixed point) and must apply to an
// image, or be rejected, without panicking.
func FuzzDecode(f *testing.F) {
	fx := sampleImage(f)
	f.Add(MustEncode(Batch{Records: []Record{register(1, "a"), unfence(1, 1)}}))
	f.Add([]byte(`{"v":1,"records":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		enc, err := Encode(b)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		b2, err := Decode(enc)
		if err != nil {
			t.Fatalf("encoded batch does not decode: %v", err)
		}
		if enc2 := MustEncode(b2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not a fixed point:\n%s\n%s", enc, enc2)
		}
		next, err := fx.img.Apply(fx.index+1, b)
		if err == nil {
			if _, err := UnmarshalImage(mustMarshal(t, next)); err != nil {
				t.Fatalf("applied image does not round trip: %v", err)
			}
		}
	})
}

func mustMarshal(t *testing.T, img *Image) []byte {
	data, err := img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
