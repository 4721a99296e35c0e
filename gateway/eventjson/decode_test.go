package eventjson

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/event"
)

func TestDecodeForms(t *testing.T) {
	one := `{"key":"k1","value":{"a": [1, 2.5e3, "x"]},"headers":{"h":"v","h2":""},"timestamp":1767225600000,"partition":3}`
	for _, tc := range []struct {
		name string
		body string
		want []event.Event
	}{
		{"one event", one, []event.Event{{
			Partition: 3, Key: []byte("k1"), Value: []byte(`{"a": [1, 2.5e3, "x"]}`),
			Headers:   []event.Header{{Key: "h", Value: []byte("v")}, {Key: "h2", Value: []byte{}}},
			Timestamp: 1767225600000,
		}}},
		{"batch", ` { "events" : [ {"value":1} , {"key":null,"value_b64":"3q2+7w=="} ] } `, []event.Event{
			{Partition: -1, Value: []byte("1")},
			{Partition: -1, Value: []byte{0xde, 0xad, 0xbe, 0xef}},
		}},
		{"empty event is a keyless tombstone", `{}`, []event.Event{{Partition: -1}}},
		{"value and value_b64 both given, even null", `{"key":null,"value":null,"headers":null,"timestamp":null,"partition":null,"value_b64":null}`,
			nil /* rejected below: value and value_b64 */},
		{"escapes", `{"key":"a\"b\\c\/d\u00e9\ud83d\ude00\ud800x","value":"s\n","headers":{"\u006b":"\t"}}`, []event.Event{{
			Partition: -1, Key: []byte("a\"b\\c/d\u00e9\U0001F600\uFFFDx"), Value: []byte(`"s\n"`),
			Headers: []event.Header{{Key: "k", Value: []byte("\t")}},
		}}},
		{"empty key and value_b64", `{"key":"","value_b64":""}`, []event.Event{{Partition: -1, Key: []byte{}, Value: []byte{}}}},
		{"string value kept as JSON text", `{"value":"hello"}`, []event.Event{{Partition: -1, Value: []byte(`"hello"`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.body), nil, 0)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted %s", tc.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if msg := diffEvents(got, tc.want); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

func TestDecodeNDJSON(t *testing.T) {
	body := "{\"key\":\"a\",\"value\":1}\r\n\n   \n{\"value\":[2]}\n"
	got, err := DecodeNDJSON([]byte(body), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Event{{Partition: -1, Key: []byte("a"), Value: []byte("1")}, {Partition: -1, Value: []byte("[2]")}}
	if msg := diffEvents(got, want); msg != "" {
		t.Fatal(msg)
	}
	// Reuses dst.
	got2, err := DecodeNDJSON([]byte(`{"value":3}`), got, 0)
	if err != nil || len(got2) != 1 || &got2[0] != &got[0] {
		t.Fatalf("dst not reused: %v %v", got2, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		ndjson      bool
		syntax      bool
		line, col   int
		event       int
		msgContains string
	}{
		{"empty", "", false, true, 1, 1, -1, "empty"},
		{"not an object", `[1]`, false, false, 1, 1, -1, "must be a JSON object"},
		{"trailing", `{"value":1} x`, false, true, 1, 13, -1, "after the JSON object"},
		{"missing value", "{\n  \"key\": }", false, true, 2, 10, 0, "looking for a value"},
		{"bad literal", `{"value": tru}`, false, true, 1, 14, 0, "literal true"},
		{"unknown field", `{"events":[{"value":1},{"vaule":2}]}`, false, false, 1, 25, 1, `unknown field "vaule"`},
		{"field twice", `{"key":"a","key":"b"}`, false, false, 1, 12, 0, "twice"},
		{"both values", `{"value":1,"value_b64":"AA=="}`, false, false, 1, 12, 0, "not both"},
		{"bad base64", `{"value_b64":"!!"}`, false, false, 1, 14, 0, "base64"},
		{"base64 newline", `{"value_b64":"AA\n=="}`, false, false, 1, 14, 0, "line break"},
		{"key type", `{"key":5}`, false, false, 1, 8, 0, `"key" must be a string`},
		{"timestamp fraction", `{"timestamp":1.5}`, false, false, 1, 14, 0, "integer"},
		{"timestamp negative", `{"timestamp":-1}`, false, false, 1, 14, 0, "at least 0"},
		{"partition too big", `{"partition":2147483648}`, false, false, 1, 14, 0, "partition"},
		{"header not string", `{"headers":{"a":1}}`, false, false, 1, 17, 0, `header "a" must be a string`},
		{"header twice", `{"headers":{"a":"1","a":"2"}}`, false, false, 1, 21, 0, "twice"},
		{"events not array", `{"events":{}}`, false, false, 1, 11, -1, "must be an array"},
		{"element not object", `{"events":[1]}`, false, false, 1, 12, 0, "must be an event"},
		{"field beside events", `{"events":[{}],"key":"a"}`, false, false, 1, 16, -1, "beside"},
		{"events in event", `{"key":"a","events":[]}`, false, false, 1, 12, 0, `"events"`},
		{"empty batch", `{"events":[]}`, false, false, 1, 11, -1, "empty"},
		{"control char", "{\"key\":\"a\x01\"}", false, true, 1, 10, 0, "control character"},
		{"bad utf8", "{\"key\":\"a\xff\"}", false, true, 1, 10, 0, "not UTF-8"},
		{"bad escape", `{"key":"\x"}`, false, true, 1, 9, 0, "invalid escape"},
		{"unterminated", `{"key":"abc`, false, true, 1, 12, 0, "end of input"},
		{"bad number", `{"value":01}`, false, true, 1, 11, 0, "after a field"},
		{"ndjson line 3", "{\"value\":1}\n\n{\"value\":2,}\n", true, true, 3, 12, 1, "field name"},
		{"ndjson cut line", "{\"value\":1}\n{\"value\":\n{}", true, true, 2, 10, 1, "end of line"},
		{"ndjson two per line", "{\"value\":1} {\"value\":2}", true, true, 1, 13, -1, "one event on each line"},
		{"ndjson blank only", "\n \r\n", true, false, 3, 1, -1, "no events"},
		{"ndjson not object", "\"x\"\n", true, false, 1, 1, -1, "JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.ndjson {
				_, err = DecodeNDJSON([]byte(tc.body), nil, 0)
			} else {
				_, err = Decode([]byte(tc.body), nil, 0)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a DecodeError", err)
			}
			if de.Syntax != tc.syntax || de.Line != tc.line || de.Column != tc.col || de.Event != tc.event ||
				!strings.Contains(de.Msg, tc.msgContains) {
				t.Fatalf("got %+v (%q); want syntax=%v line %d col %d event %d containing %q",
					*de, de.Error(), tc.syntax, tc.line, tc.col, tc.event, tc.msgContains)
			}
			if !strings.Contains(de.Error(), "line ") {
				t.Fatalf("message %q does not say where", de.Error())
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	body := `{"events":[{},{},{}]}`
	if _, err := Decode([]byte(body), nil, 3); err != nil {
		t.Fatalf("3 events with limit 3: %v", err)
	}
	if _, err := Decode([]byte(body), nil, 2); !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("3 events with limit 2: %v", err)
	}
	if _, err := DecodeNDJSON([]byte("{}\n{}\n{}"), nil, 2); !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("NDJSON 3 events with limit 2: %v", err)
	}
	if _, err := Decode([]byte(`{"events":[]}`), nil, 2); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("empty batch: %v", err)
	}
	deep := `{"value":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`
	if _, err := Decode([]byte(deep), nil, 0); err != nil {
		t.Fatalf("nesting of %d: %v", maxDepth, err)
	}
	deeper := `{"value":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`
	if _, err := Decode([]byte(deeper), nil, 0); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("nesting of %d: %v", maxDepth+1, err)
	}
}

// TestDecodeManyHeaders covers the map path of the duplicate check.
func TestDecodeManyHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"headers":{`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"h` + strconv.Itoa(i) + `":"v"`)
	}
	ok := b.String() + `}}`
	evs, err := Decode([]byte(ok), nil, 0)
	if err != nil || len(evs[0].Headers) != 40 {
		t.Fatalf("40 headers: %v", err)
	}
	if _, err := Decode([]byte(b.String()+`,"h7":"again"}}`), nil, 0); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate among many: %v", err)
	}
}

// TestDecodeAliasing checks that events of one batch do not share memory
// wrongly: headers of one event stay put when later events add more.
func TestDecodeAliasing(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key":"k\u00e9` + string(rune('a'+i%26)) + `","headers":{"a":"1","b":"\u0032"},"value_b64":"AQI="}`)
	}
	b.WriteString(`]}`)
	evs, err := Decode([]byte(b.String()), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if string(ev.Key) != "k\u00e9"+string(rune('a'+i%26)) || len(ev.Headers) != 2 ||
			string(ev.Headers[1].Value) != "2" || string(ev.Value) != "\x01\x02" || cap(ev.Headers) != 2 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}
