package eventjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		``, ` `, `1`, `-0`, `-`, `01`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`, `-12.5e10`, `.5`,
		`"x"`, `"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/"`, "\"\t\"", "\"é\"", "\"\xff\"", "\"\xed\xa0\x80\"",
		`true`, `tru`, `truex`, `null`, `nul`, `false`, `[]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`,
		`{}`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":[{"b":{}}]}`,
		` {"a" : [ 1 , 2 ] } `, `[1]]`, `[[1]`, `{"a":1}}`, `1 2`, "\n[\r\n]\t", "\x00",
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, c := range cases {
		want := json.Valid([]byte(c)) && utf8.ValidString(c)
		if got := validJSON([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, want %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"x\u0041"`, `-1.5e3`, "\"\xff\"", `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b) && utf8.Valid(b)
		if got := validJSON(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid && utf8.Valid = %v", b, got, want)
		}
	})
}

// TestSpecial8 checks the eight-byte test against the byte table on
// every byte value in every position.
func TestSpecial8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			var b [8]byte
			for i := range b {
				b[i] = 'a'
			}
			b[pos] = byte(c)
			want := !strPlain[c]
			if got := special8(binary.LittleEndian.Uint64(b[:])); got != want {
				t.Fatalf("byte %#x at %d: special8 %v, want %v", c, pos, got, want)
			}
		}
	}
}

func BenchmarkValidJSON(b *testing.B) {
	value := bytes.Repeat([]byte(`{"name":"événement","n":[1,2.5,-3e2],"ok":true,"x":null},`), 200)
	value = append(append([]byte{'['}, value[:len(value)-1]...), ']')
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if !validJSON(value) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Valid+utf8.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if !json.Valid(value) || !utf8.Valid(value) {
				b.Fatal("invalid")
			}
		}
	})
}
