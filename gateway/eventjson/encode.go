package eventjson

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/gateway/event"
)

// AppendRecord appends one read event as a JSON object:
//
//	{"partition":0,"offset":12,"timestamp":1700000000000,"key":"k","value":{...},"headers":{"h":"v"}}
//
// See AppendRecordFields for how each field is written.
func AppendRecord(dst []byte, r *event.Record) []byte {
	dst = append(dst, '{')
	dst = AppendRecordFields(dst, r)
	return append(dst, '}')
}

// AppendRecordFields appends the fields of one read event, comma-separated
// and without the enclosing braces, so that callers can put their own
// fields first:
//
//	buf = append(buf, `{"type":"event","id":"s1","topic":"chat",`...)
//	buf = eventjson.AppendRecordFields(buf, &rec)
//	buf = append(buf, '}')
//
// The fields, in this order:
//
//   - "partition", "offset", "timestamp" (milliseconds since the Unix
//     epoch): integers.
//   - "key": the key as a string, or null for a nil (Kafka null) key. A key
//     that is not valid UTF-8 cannot be a JSON string without loss, so it is
//     sent as "key_b64" (standard base64, padded) instead of "key": exactly
//     one of the two is present.
//   - "value": the stored bytes copied as they are when they are one JSON
//     text (encoding/json's json.Valid) and valid UTF-8; else "value_b64",
//     standard padded base64. A nil value (a tombstone) is "value":null; an
//     empty non-nil value is not JSON and is "value_b64":"". The UTF-8
//     condition matters beyond JSON: json.Valid accepts invalid UTF-8 inside
//     strings, but a WebSocket text frame holding it is refused by browsers.
//   - "headers": an object, always present, mapping each header key to its
//     value as a string, or null for a nil (Kafka null) value. Kafka allows
//     repeated keys; JSON objects should not repeat them, so the last value
//     of a key wins, as Kafka's lastHeader does. Values that are not valid
//     UTF-8 go into a second object, "headers_b64", present only when
//     needed, with standard padded base64 values; a key is in one of the two
//     objects, never both. Header keys that are not valid UTF-8 have each
//     bad byte replaced by U+FFFD, as encoding/json does; they are rare
//     enough (every Kafka client writes keys as strings) that a lossless
//     form is not worth a third object.
//
// It does not allocate beyond growing dst, except for more than
// maxLinearHeaders headers (the repeated-key check then sorts them), and
// nothing r points to escapes to the heap through it.
func AppendRecordFields(dst []byte, r *event.Record) []byte {
	dst = append(dst, `"partition":`...)
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp, 10)

	key, value, hs := r.Key, r.Value, r.Headers
	switch {
	case key == nil:
		dst = append(dst, `,"key":null`...)
	case utf8.Valid(key):
		dst = append(dst, `,"key":`...)
		dst = appendQuoted(dst, key)
	default:
		dst = append(dst, `,"key_b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, key)
		dst = append(dst, '"')
	}

	switch {
	case value == nil:
		dst = append(dst, `,"value":null`...)
	case validJSON(value):
		dst = append(dst, `,"value":`...)
		dst = append(dst, value...)
	default:
		dst = append(dst, `,"value_b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, value)
		dst = append(dst, '"')
	}

	last := newLastIndex(hs)
	dst = append(dst, `,"headers":{`...)
	first := true
	binary := false
	for i := range hs {
		if !last.wins(hs, i) {
			continue
		}
		k, v := hs[i].Key, hs[i].Value
		if v != nil && !utf8.Valid(v) {
			binary = true
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendString(dst, k)
		if v == nil {
			dst = append(dst, ":null"...)
		} else {
			dst = append(dst, ':')
			dst = appendQuoted(dst, v)
		}
	}
	dst = append(dst, '}')
	if binary {
		dst = append(dst, `,"headers_b64":{`...)
		first = true
		for i := range hs {
			if !last.wins(hs, i) {
				continue
			}
			k, v := hs[i].Key, hs[i].Value
			if v == nil || utf8.Valid(v) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendString(dst, k)
			dst = append(dst, `:"`...)
			dst = base64.StdEncoding.AppendEncode(dst, v)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return dst
}

// maxLinearHeaders is the header count up to which repeated keys are found
// by comparing every pair, which is faster than sorting for the handful of
// headers events usually carry.
const maxLinearHeaders = 16

// lastIndex finds the last header of each key, keys compared as the output
// writes them (each byte that is not valid UTF-8 as U+FFFD). Up to
// maxLinearHeaders headers are compared pairwise, without allocating; more
// are sorted by key once. It holds no header: storing one would let the
// headers, and with them whatever the caller's record points to, escape to
// the heap.
type lastIndex struct {
	exact bool   // every key is valid UTF-8: keys compare as they are
	loser []bool // loser[i]: a later header has i's key; nil when comparing pairwise
}

func newLastIndex(hs []event.Header) lastIndex {
	li := lastIndex{exact: true}
	for i := range hs {
		if !utf8.ValidString(hs[i].Key) {
			li.exact = false
			break
		}
	}
	if len(hs) <= maxLinearHeaders {
		return li
	}
	order := make([]int, len(hs))
	for i := range order {
		order[i] = i
	}
	// Stable: headers of one key stay in input order, the last one last.
	slices.SortStableFunc(order, func(i, j int) int { return li.compare(hs[i].Key, hs[j].Key) })
	li.loser = make([]bool, len(hs))
	for k := 1; k < len(order); k++ {
		if li.compare(hs[order[k-1]].Key, hs[order[k]].Key) == 0 {
			li.loser[order[k-1]] = true
		}
	}
	return li
}

// wins reports whether header i of hs, the headers newLastIndex was given,
// is the last one of its key.
func (li lastIndex) wins(hs []event.Header, i int) bool {
	if li.loser != nil {
		return !li.loser[i]
	}
	for j := i + 1; j < len(hs); j++ {
		if li.compare(hs[i].Key, hs[j].Key) == 0 {
			return false
		}
	}
	return true
}

// compare orders header keys as written.
func (li lastIndex) compare(a, b string) int {
	if li.exact {
		return cmp.Compare(a, b)
	}
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a) // a bad byte is RuneError, 1
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// AppendString appends s as a JSON string literal. Bytes that are not
// valid UTF-8 are written as U+FFFD, one per byte, as encoding/json does;
// nothing else is lost.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendQuoted appends b, which must be valid UTF-8, as a JSON string
// literal.
func appendQuoted(dst, b []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, c := range b {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, b[start:i]...)
		dst = appendEscape(dst, c)
		start = i + 1
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscape appends the escape sequence of an ASCII byte that cannot
// appear raw in a JSON string.
func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
