package eventjson

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"

	"github.com/runnel-dev/runnel/gateway/event"

	"github.com/runnel-dev/runnel/internal/plural"
)

// The event fields, as bits, to catch duplicates.
const (
	fKey = 1 << iota
	fValue
	fValueB64
	fHeaders
	fTimestamp
	fPartition
)

// decodeEvent decodes one event object at d.pos == '{' and appends it.
func (d *decoder) decodeEvent() error {
	if d.max > 0 && len(d.out) >= d.max {
		return fmt.Errorf("more than %s: %w", plural.Noun(d.max, "event"), ErrTooManyEvents)
	}
	d.event = len(d.out)
	d.pos++
	if !d.push() {
		return d.scanError()
	}
	ev := event.Event{Partition: -1}
	var seen int
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		d.depth--
		d.out = append(d.out, ev)
		d.event = -1
		return nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
			return d.unexpected("looking for a field name")
		}
		nameAt := d.pos
		name, err := d.memberName()
		if err != nil {
			return err
		}
		var bit int
		switch string(name) {
		case "key":
			bit = fKey
		case "value":
			bit = fValue
		case "value_b64":
			bit = fValueB64
		case "headers":
			bit = fHeaders
		case "timestamp":
			bit = fTimestamp
		case "partition":
			bit = fPartition
		case "events":
			return d.shapeErrAt(nameAt, "unexpected field \"events\" in an event; send one event, or {\"events\": [...]} with nothing beside it")
		default:
			return d.shapeErrAt(nameAt, "unknown field %q; an event has %s", name, eventFields)
		}
		if seen&bit != 0 {
			return d.shapeErrAt(nameAt, "field %q appears twice", name)
		}
		seen |= bit
		if bit&(fValue|fValueB64) != 0 && seen&(fValue|fValueB64) == fValue|fValueB64 {
			return d.shapeErrAt(nameAt, "an event has \"value\" or \"value_b64\", not both")
		}
		if !d.colon() {
			return d.scanError()
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("looking for a value")
		}
		if err := d.field(bit, &ev); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("in an event")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
			continue
		case '}':
			d.pos++
			d.depth--
			d.out = append(d.out, ev)
			d.event = -1
			return nil
		}
		return d.unexpected("after a field; want ',' or '}'")
	}
}

// null consumes a JSON null at d.pos if there is one.
func (d *decoder) null() bool {
	if len(d.buf)-d.pos >= 4 && string(d.buf[d.pos:d.pos+4]) == "null" {
		d.pos += 4
		return true
	}
	return false
}

// field decodes the value of one event field, at d.pos (not at the end).
func (d *decoder) field(bit int, ev *event.Event) error {
	at := d.pos
	c := d.buf[d.pos]
	switch bit {
	case fValue:
		if d.null() {
			return nil
		}
		if !d.skipValue() {
			return d.scanError()
		}
		ev.Value = d.buf[at:d.pos:d.pos]
		return nil
	case fKey:
		if d.null() {
			return nil
		}
		if c != '"' {
			return d.wrongType(at, "\"key\" must be a string or null")
		}
		s, err := d.stringValue()
		if err != nil {
			return err
		}
		ev.Key = s
		return nil
	case fValueB64:
		if d.null() {
			return nil
		}
		if c != '"' {
			return d.wrongType(at, "\"value_b64\" must be a string of standard base64")
		}
		return d.base64Value(at, ev)
	case fHeaders:
		if d.null() {
			return nil
		}
		if c != '{' {
			return d.wrongType(at, "\"headers\" must be an object of strings, such as {\"source\": \"checkout\"}")
		}
		return d.headers(ev)
	case fTimestamp:
		if d.null() {
			return nil
		}
		n, err := d.integer(at, "\"timestamp\" must be an integer number of milliseconds since the Unix epoch, at least 0", math.MaxInt64)
		ev.Timestamp = n
		return err
	case fPartition:
		if d.null() {
			return nil
		}
		n, err := d.integer(at, "\"partition\" must be an integer from 0", math.MaxInt32)
		ev.Partition = int32(n)
		return err
	}
	panic("eventjson: unknown field bit")
}

// wrongType skips the value at d.pos, so that a syntax error inside it is
// reported as such, then returns msg as a shape error.
func (d *decoder) wrongType(at int, msg string) error {
	if !d.skipValue() {
		return d.scanError()
	}
	return d.shapeErrAt(at, "%s", msg)
}

// integer decodes a non-negative JSON integer of at most max.
func (d *decoder) integer(at int, msg string, max int64) (int64, error) {
	c := d.buf[d.pos]
	if c != '-' && (c < '0' || c > '9') {
		return 0, d.wrongType(at, msg)
	}
	if !d.skipNumber() {
		return 0, d.scanError()
	}
	n, err := strconv.ParseInt(string(d.buf[at:d.pos]), 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, d.shapeErrAt(at, "%s; got %s", msg, d.buf[at:d.pos])
	}
	return n, nil
}

// headers decodes a headers object at d.pos == '{'.
func (d *decoder) headers(ev *event.Event) error {
	d.pos++
	if !d.push() {
		return d.scanError()
	}
	start := len(d.hdrs)
	var seen map[string]struct{} // only for many headers
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
			return d.unexpected("looking for a header name")
		}
		nameAt := d.pos
		name, err := d.memberName()
		if err != nil {
			return err
		}
		// memberName's result may live in scratch; copy before decoding
		// more strings. Events of a batch mostly repeat the same header
		// names in the same order: reuse the previous event's string.
		var key string
		if i := len(d.hdrs) - start; i < len(d.lastHdrs) && d.lastHdrs[i].Key == string(name) {
			key = d.lastHdrs[i].Key
		} else {
			key = string(name)
		}
		if n := len(d.hdrs) - start; n < 16 {
			for _, h := range d.hdrs[start:] {
				if h.Key == key {
					return d.shapeErrAt(nameAt, "header %q appears twice", key)
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*n)
				for _, h := range d.hdrs[start:] {
					seen[h.Key] = struct{}{}
				}
			}
			if _, dup := seen[key]; dup {
				return d.shapeErrAt(nameAt, "header %q appears twice", key)
			}
			seen[key] = struct{}{}
		}
		if !d.colon() {
			return d.scanError()
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("looking for a header value")
		}
		at := d.pos
		if d.buf[d.pos] != '"' {
			return d.wrongType(at, fmt.Sprintf("header %q must be a string", key))
		}
		v, err := d.stringValue()
		if err != nil {
			return err
		}
		d.hdrs = append(d.hdrs, event.Header{Key: key, Value: v})
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("in the headers")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
			continue
		case '}':
			d.pos++
			d.depth--
			n := len(d.hdrs)
			ev.Headers = d.hdrs[start:n:n]
			d.lastHdrs = ev.Headers
			return nil
		}
		return d.unexpected("after a header; want ',' or '}'")
	}
}

// base64Value decodes "value_b64" at d.pos == '"'.
func (d *decoder) base64Value(at int, ev *event.Event) error {
	start := d.pos + 1
	escaped, ok := d.skipString()
	if !ok {
		return d.scanError()
	}
	end := d.pos - 1
	src := d.buf[start:end]
	if escaped {
		d.scratch = unescape(d.scratch[:0], src)
		src = d.scratch
	}
	// Standard base64 ignores line breaks; the API's pattern does not
	// allow them.
	if bytes.ContainsAny(src, "\r\n") {
		return d.shapeErrAt(at, "\"value_b64\" is not valid standard base64: it holds a line break")
	}
	dst := d.alloc(base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return d.shapeErrAt(at, "\"value_b64\" is not valid standard base64 with padding: %v", err)
	}
	if n == 0 {
		ev.Value = []byte{} // the empty value, not a null one
		return nil
	}
	ev.Value = dst[:n:n]
	return nil
}

// alloc returns n bytes of the arena.
func (d *decoder) alloc(n int) []byte {
	if cap(d.arena)-len(d.arena) < n {
		// Decoded text is never longer than its source, so the rest of
		// the body bounds what is still to come.
		d.arena = make([]byte, 0, max(n, min(len(d.body)-d.pos+n, 64<<10), 512))
	}
	l := len(d.arena)
	d.arena = d.arena[:l+n]
	return d.arena[l : l+n : l+n]
}

// stringValue decodes a string at d.pos == '"' that ends up in an event:
// the body's bytes when it has no escapes, else a decoded copy.
func (d *decoder) stringValue() ([]byte, error) {
	start := d.pos + 1
	escaped, ok := d.skipString()
	if !ok {
		return nil, d.scanError()
	}
	end := d.pos - 1
	if !escaped {
		return d.buf[start:end:end], nil
	}
	dst := d.alloc(end - start)
	n := len(unescape(dst[:0], d.buf[start:end]))
	// unescape wrote into dst's array: it never outgrows its source.
	return dst[:n:n], nil
}

// memberName decodes an object member name at d.pos == '"'. The result is
// valid until the next memberName or base64Value call.
func (d *decoder) memberName() ([]byte, error) {
	start := d.pos + 1
	escaped, ok := d.skipString()
	if !ok {
		return nil, d.scanError()
	}
	end := d.pos - 1
	if !escaped {
		return d.buf[start:end], nil
	}
	d.scratch = unescape(d.scratch[:0], d.buf[start:end])
	return d.scratch, nil
}
