package eventjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/gateway/event"
)

func TestAppendRecord(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		value   []byte
		headers []event.Header
		want    string
	}{
		{
			name:  "json value",
			key:   []byte("user-1"),
			value: []byte(`{"a": [1, 2.5e3, true, null, "x"]}`),
			headers: []event.Header{
				{Key: "trace", Value: []byte("abc")},
			},
			want: `{"partition":3,"offset":42,"timestamp":1700000000000,"key":"user-1","value":{"a": [1, 2.5e3, true, null, "x"]},"headers":{"trace":"abc"}}`,
		},
		{
			name:  "null key and tombstone",
			key:   nil,
			value: nil,
			want:  `{"partition":3,"offset":42,"timestamp":1700000000000,"key":null,"value":null,"headers":{}}`,
		},
		{
			name:  "text that is not JSON",
			key:   []byte{},
			value: []byte("hello"),
			want:  `{"partition":3,"offset":42,"timestamp":1700000000000,"key":"","value_b64":"aGVsbG8=","headers":{}}`,
		},
		{
			name:  "empty value is not JSON",
			key:   []byte("k"),
			value: []byte{},
			want:  `{"partition":3,"offset":42,"timestamp":1700000000000,"key":"k","value_b64":"","headers":{}}`,
		},
		{
			name:  "binary key and JSON with invalid UTF-8 in a string",
			key:   []byte{0xff, 0x00},
			value: []byte("\"\xff\""),
			want:  `{"partition":3,"offset":42,"timestamp":1700000000000,"key_b64":"/wA=","value_b64":"Iv8i","headers":{}}`,
		},
		{
			name:  "escapes",
			key:   []byte("a\"b\\c\nd\x01é€"),
			value: []byte(`"q\"\u00e9"`),
			want:  `{"partition":3,"offset":42,"timestamp":1700000000000,"key":"a\"b\\c\nd\u0001é€","value":"q\"\u00e9","headers":{}}`,
		},
		{
			name:  "headers: repeated keys, null, binary, bad key",
			key:   []byte("k"),
			value: []byte("1"),
			headers: []event.Header{
				{Key: "a", Value: []byte("1")},
				{Key: "b", Value: nil},
				{Key: "c", Value: []byte{0xc3}},
				{Key: "a", Value: []byte("2")},
				{Key: "d\xff", Value: []byte("x")},
			},
			want: `{"partition":3,"offset":42,"timestamp":1700000000000,"key":"k","value":1,"headers":{"b":null,"a":"2","d\ufffd":"x"},"headers_b64":{"c":"ww=="}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendRecord(nil, &event.Record{Partition: 3, Offset: 42, Timestamp: 1_700_000_000_000, Key: tc.key, Value: tc.value, Headers: tc.headers}))
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			checkEvent(t, []byte(got), 3, 42, 1_700_000_000_000, tc.key, tc.value, tc.headers)
		})
	}
}

func TestAppendRecordFieldsPrefix(t *testing.T) {
	buf := []byte(`{"type":"event","id":`)
	buf = AppendString(buf, "s\"1")
	buf = append(buf, ',')
	buf = AppendRecordFields(buf, &event.Record{Partition: 0, Offset: 1, Timestamp: 2, Key: []byte("k"), Value: []byte(`[1]`)})
	buf = append(buf, '}')
	want := `{"type":"event","id":"s\"1","partition":0,"offset":1,"timestamp":2,"key":"k","value":[1],"headers":{}}`
	if string(buf) != want {
		t.Fatalf("got  %s\nwant %s", buf, want)
	}
}

func TestManyHeadersLastWins(t *testing.T) {
	var hs []event.Header
	for i := range 3 * maxLinearHeaders {
		hs = append(hs, event.Header{Key: fmt.Sprintf("h%d", i%maxLinearHeaders), Value: fmt.Appendf(nil, "%d", i)})
	}
	hs = append(hs, event.Header{Key: "x\xff", Value: []byte("1")}, event.Header{Key: "x\xfe", Value: []byte("2")})
	out := AppendRecord(nil, &event.Record{Headers: hs})
	checkEvent(t, out, 0, 0, 0, nil, nil, hs)
	var ev struct{ Headers map[string]string }
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev.Headers["h0"]; got != fmt.Sprint(2*maxLinearHeaders) {
		t.Fatalf("h0 = %q, want the last value %d", got, 2*maxLinearHeaders)
	}
	if got := ev.Headers["x\ufffd"]; got != "2" {
		t.Fatalf("x\\ufffd = %q, want the last value 2", got)
	}
	if n := bytes.Count(out, []byte(`"h0":`)); n != 1 {
		t.Fatalf("h0 written %d times in %s", n, out)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	key := []byte("user-1")
	value := []byte(`{"msg":"hello","n":[1,2,3],"ok":true}`)
	hs := []event.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{0xff}}}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		buf = AppendRecord(buf[:0], &event.Record{Partition: 1, Offset: 2, Timestamp: 3, Key: key, Value: value, Headers: hs})
		buf = AppendRecord(buf[:0], &event.Record{Partition: 1, Offset: 2, Timestamp: 3, Key: []byte{0xff}, Value: []byte("not json"), Headers: hs})
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add(int32(0), int64(1), int64(2), []byte("k"), []byte(`{"a":1}`), "h", []byte("v"), "h", []byte{0xff}, uint8(0))
	f.Add(int32(-1), int64(-5), int64(0), []byte{0xff}, []byte("plain"), "\xff", []byte(nil), "x", []byte(""), uint8(7))
	f.Fuzz(func(t *testing.T, p int32, off, ts int64, key, value []byte, hk1 string, hv1 []byte, hk2 string, hv2 []byte, nulls uint8) {
		if nulls&1 != 0 {
			key = nil
		}
		if nulls&2 != 0 {
			value = nil
		}
		if nulls&4 != 0 {
			hv1 = nil
		}
		hs := []event.Header{{Key: hk1, Value: hv1}, {Key: hk2, Value: hv2}, {Key: hk1, Value: hv2}}[:1+int(nulls>>3)%3]
		out := AppendRecord(nil, &event.Record{Partition: p, Offset: off, Timestamp: ts, Key: key, Value: value, Headers: hs})
		checkEvent(t, out, p, off, ts, key, value, hs)
	})
}

// checkEvent parses out with encoding/json and checks that it carries
// exactly the given event, as AppendRecordFields documents.
func checkEvent(t *testing.T, out []byte, p int32, off, ts int64, key, value []byte, hs []event.Header) {
	t.Helper()
	if !json.Valid(out) || !utf8.Valid(out) {
		t.Fatalf("output is not valid UTF-8 JSON: %q", out)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(out, &fields); err != nil {
		t.Fatalf("output is not an object: %v: %s", err, out)
	}
	var ev struct {
		Partition  int32
		Offset     int64
		Timestamp  int64
		Key        *string
		KeyB64     []byte `json:"key_b64"`
		ValueB64   []byte `json:"value_b64"`
		Headers    map[string]*string
		HeadersB64 map[string][]byte `json:"headers_b64"`
	}
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if ev.Partition != p || ev.Offset != off || ev.Timestamp != ts {
		t.Fatalf("partition/offset/timestamp %d/%d/%d, want %d/%d/%d", ev.Partition, ev.Offset, ev.Timestamp, p, off, ts)
	}

	_, hasKey := fields["key"]
	_, hasKeyB64 := fields["key_b64"]
	switch {
	case hasKey == hasKeyB64:
		t.Fatalf("want exactly one of key and key_b64: %s", out)
	case key == nil:
		if ev.Key != nil || !hasKey {
			t.Fatalf("nil key written as %s", fields["key"])
		}
	case hasKey:
		if ev.Key == nil || *ev.Key != string(key) {
			t.Fatalf("key %q written as %s", key, fields["key"])
		}
	default:
		if utf8.Valid(key) || !bytes.Equal(ev.KeyB64, key) {
			t.Fatalf("key %q written as key_b64 %s", key, fields["key_b64"])
		}
	}

	raw, hasValue := fields["value"]
	_, hasValueB64 := fields["value_b64"]
	switch {
	case hasValue == hasValueB64:
		t.Fatalf("want exactly one of value and value_b64: %s", out)
	case value == nil:
		if string(raw) != "null" {
			t.Fatalf("nil value written as %s", raw)
		}
	case hasValue:
		if !bytes.Equal(raw, bytes.Trim(value, " \t\r\n")) {
			t.Fatalf("value %q written as %s", value, raw)
		}
	default:
		if (json.Valid(value) && utf8.Valid(value)) || !bytes.Equal(ev.ValueB64, value) {
			t.Fatalf("value %q written as value_b64 %s", value, fields["value_b64"])
		}
	}

	// The last header of each key (keys with bad UTF-8 coerced) wins.
	want := map[string][]byte{}
	for _, h := range hs {
		var k strings.Builder
		for _, r := range h.Key { // a bad byte ranges as one utf8.RuneError
			k.WriteRune(r)
		}
		want[k.String()] = h.Value
	}
	if ev.Headers == nil {
		t.Fatalf("headers missing: %s", out)
	}
	if _, ok := fields["headers_b64"]; ok && len(ev.HeadersB64) == 0 {
		t.Fatalf("empty headers_b64 written: %s", out)
	}
	if len(ev.Headers)+len(ev.HeadersB64) != len(want) {
		t.Fatalf("%d headers and %d binary headers, want %d in all: %s", len(ev.Headers), len(ev.HeadersB64), len(want), out)
	}
	for k, v := range want {
		got, inText := ev.Headers[k]
		gotBin, inBin := ev.HeadersB64[k]
		switch {
		case inText == inBin:
			t.Fatalf("header %q in headers: %v, in headers_b64: %v; want exactly one", k, inText, inBin)
		case v == nil:
			if !inText || got != nil {
				t.Fatalf("nil header %q not written as null: %s", k, out)
			}
		case utf8.Valid(v):
			if !inText || got == nil || *got != string(v) {
				t.Fatalf("header %q=%q wrong: %s", k, v, out)
			}
		default:
			if !bytes.Equal(gotBin, v) {
				t.Fatalf("binary header %q=%q written as %s", k, v, base64.StdEncoding.EncodeToString(gotBin))
			}
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	key := []byte("user-12345")
	value := []byte(`{"type":"message","room":"lobby","text":"hello there, how is everyone doing today?","ts":1700000000000,"tags":["a","b","c"]}`)
	hs := []event.Header{{Key: "trace-id", Value: []byte("4bf92f3577b34da6a3ce929d0e0e4736")}}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], &event.Record{Partition: 1, Offset: 123456, Timestamp: 1_700_000_000_000, Key: key, Value: value, Headers: hs})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
