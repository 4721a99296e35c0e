package eventjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/gateway/event"
)

// The reference decoder: the same rules written with encoding/json, slowly
// and plainly. FuzzDecodeAgainstEncodingJSON checks that the scanner agrees
// with it on what is accepted and on every decoded field.

type member struct {
	name string
	raw  json.RawMessage
}

// refMembers returns an object's members in order, or false when raw is
// not an object.
func refMembers(raw []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{tok.(string), bytes.TrimSpace(v)})
	}
	return ms, true
}

func isNull(raw []byte) bool { return string(raw) == "null" }

func refString(raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return nil, false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

func refInt(raw []byte, max int64) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil && n >= 0 && n <= max
}

func refEvent(raw []byte) (event.Event, bool) {
	ev := event.Event{Partition: -1}
	ms, ok := refMembers(raw)
	if !ok {
		return ev, false
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.name] {
			return ev, false
		}
		seen[m.name] = true
		switch m.name {
		case "key":
			if !isNull(m.raw) {
				if ev.Key, ok = refString(m.raw); !ok {
					return ev, false
				}
				if ev.Key == nil {
					ev.Key = []byte{}
				}
			}
		case "value":
			if !isNull(m.raw) {
				ev.Value = m.raw
			}
		case "value_b64":
			if !isNull(m.raw) {
				s, ok := refString(m.raw)
				if !ok || bytes.ContainsAny(s, "\r\n") {
					return ev, false
				}
				v, err := base64.StdEncoding.DecodeString(string(s))
				if err != nil {
					return ev, false
				}
				if v == nil {
					v = []byte{}
				}
				ev.Value = v
			}
		case "headers":
			if isNull(m.raw) {
				continue
			}
			hs, ok := refMembers(m.raw)
			if !ok {
				return ev, false
			}
			hseen := map[string]bool{}
			for _, h := range hs {
				v, ok := refString(h.raw)
				if !ok || hseen[h.name] {
					return ev, false
				}
				hseen[h.name] = true
				if v == nil {
					v = []byte{}
				}
				ev.Headers = append(ev.Headers, event.Header{Key: h.name, Value: v})
			}
		case "timestamp":
			if !isNull(m.raw) {
				if ev.Timestamp, ok = refInt(m.raw, math.MaxInt64); !ok {
					return ev, false
				}
			}
		case "partition":
			if !isNull(m.raw) {
				p, ok := refInt(m.raw, math.MaxInt32)
				if !ok {
					return ev, false
				}
				ev.Partition = int32(p)
			}
		default:
			return ev, false
		}
	}
	if seen["value"] && seen["value_b64"] {
		return ev, false
	}
	return ev, true
}

func refValid(b []byte) bool { return utf8.Valid(b) && json.Valid(b) }

func refDecode(body []byte) ([]event.Event, bool) {
	if !refValid(body) {
		return nil, false
	}
	ms, ok := refMembers(body)
	if !ok {
		return nil, false
	}
	if len(ms) == 0 || ms[0].name != "events" {
		ev, ok := refEvent(body)
		return []event.Event{ev}, ok
	}
	if len(ms) != 1 {
		return nil, false
	}
	var raws []json.RawMessage
	if len(ms[0].raw) == 0 || ms[0].raw[0] != '[' || json.Unmarshal(ms[0].raw, &raws) != nil || len(raws) == 0 {
		return nil, false
	}
	var out []event.Event
	for _, r := range raws {
		ev, ok := refEvent(bytes.TrimSpace(r))
		if !ok {
			return nil, false
		}
		out = append(out, ev)
	}
	return out, true
}

func refDecodeNDJSON(body []byte) ([]event.Event, bool) {
	var out []event.Event
	for _, line := range bytes.Split(body, []byte{'\n'}) {
		if len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		if !refValid(line) {
			return nil, false
		}
		ev, ok := refEvent(bytes.TrimSpace(line))
		if !ok {
			return nil, false
		}
		out = append(out, ev)
	}
	return out, len(out) > 0
}

// diffEvents describes how got differs from want, nil and empty slices
// told apart for keys and values; "" when they agree.
func diffEvents(got, want []event.Event) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d events, want %d", len(got), len(want))
	}
	sameBytes := func(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
	for i := range got {
		g, w := got[i], want[i]
		if g.Partition != w.Partition || g.Timestamp != w.Timestamp || !sameBytes(g.Key, w.Key) ||
			!sameBytes(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
			return fmt.Sprintf("event %d: got %s, want %s", i, fmtEvent(g), fmtEvent(w))
		}
		for j := range g.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !bytes.Equal(g.Headers[j].Value, w.Headers[j].Value) {
				return fmt.Sprintf("event %d: got %s, want %s", i, fmtEvent(g), fmtEvent(w))
			}
		}
	}
	return ""
}

func fmtEvent(e event.Event) string {
	q := func(b []byte) string {
		if b == nil {
			return "nil"
		}
		return strconv.Quote(string(b))
	}
	s := fmt.Sprintf("{p=%d ts=%d key=%s value=%s headers=[", e.Partition, e.Timestamp, q(e.Key), q(e.Value))
	for _, h := range e.Headers {
		s += strconv.Quote(h.Key) + ":" + q(h.Value) + " "
	}
	return s + "]}"
}

var fuzzSeeds = []string{
	`{}`,
	`{"key":"k","value":{"a":[1,2,{"b":null}]},"headers":{"h":"v"},"timestamp":5,"partition":0}`,
	`{"events":[{"value":1},{"value_b64":"AAEC"},{"key":null}]}`,
	`{"events":[],"x":1}`,
	`{"events":[{}],"events":[{}]}`,
	`{"key":"\ud83d\ude00\ud800\u0041","value":"\"\\\/\b\f\n\r\t"}`,
	`{"value":-0.5e-7}`,
	`{"value":1E+2,"timestamp":-0}`,
	`{"partition":2147483647,"timestamp":9223372036854775807}`,
	`{"partition":2147483648}`,
	`{"value_b64":"A==="}`,
	`{"value_b64":"\u0041\u0041=="}`,
	`{"value_b64":"AA\r\n=="}`,
	`{"headers":{"a":"1","a":"2"}}`,
	`{"KEY":"x"}`,
	`{"k\u0065y":"x"}`,
	`[{}]`,
	`{"value":[1,]}`,
	"{\"value\":\"\xff\"}",
	"{\"value\":\"\xed\xa0\x80\"}",
	"\ufeff{}",
	"{\"key\":\"a\"}\n\n{\"value\":2}\r\n",
	" \t{\"value\" : tru }",
}

func FuzzDecodeAgainstEncodingJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		for _, form := range []struct {
			name   string
			decode func([]byte, []event.Event, int) ([]event.Event, error)
			ref    func([]byte) ([]event.Event, bool)
		}{
			{"json", Decode, refDecode},
			{"ndjson", DecodeNDJSON, refDecodeNDJSON},
		} {
			got, err := form.decode(body, nil, 0)
			want, ok := form.ref(body)
			if (err == nil) != ok {
				t.Fatalf("%s %q: decoder error %v, reference accepts: %v", form.name, body, err, ok)
			}
			if !bytes.Equal(body, orig) {
				t.Fatalf("%s: the decoder changed its input", form.name)
			}
			if err != nil {
				if de, isDE := err.(*DecodeError); isDE && (de.Offset > len(body) || de.Line < 1 || de.Column < 1) {
					t.Fatalf("%s %q: error position out of the body: %+v", form.name, body, de)
				}
				continue
			}
			if msg := diffEvents(got, want); msg != "" {
				t.Fatalf("%s %q: %s", form.name, body, msg)
			}
		}
	})
}
