package eventjson

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/gateway/event"
)

// Decoding produce bodies.
//
// The decoder is a hand-written single-pass scanner: produce is the
// gateway's hot path, and encoding/json's reflection costs several
// allocations per event. It accepts exactly the JSON that encoding/json
// accepts (RFC 8259, UTF-8 only, nesting up to maxDepth), which
// FuzzDecodeAgainstEncodingJSON checks.
//
// Decoded events alias the body: a "value" is the sub-slice holding its
// JSON text, and a key or header value without escapes is the sub-slice
// holding its characters. Strings with escapes and "value_b64" values are
// decoded into buffers of their own. The caller must therefore keep the
// body unchanged for as long as it uses the events.

// ErrTooManyEvents matches the error of a body holding more events than
// the limit given to Decode or DecodeNDJSON; the REST API answers it with
// 413. Send fewer events per request.
var ErrTooManyEvents = errors.New("too many events in one request")

// ErrNoEvents matches the error of a body holding no event at all (an
// empty "events" array, or NDJSON of blank lines only).
var ErrNoEvents = errors.New("no events")

// DecodeError says what is wrong with a produce body and where.
type DecodeError struct {
	// Offset is the byte offset in the body at which the problem was found.
	Offset int
	// Line and Column locate Offset, both from 1; Column counts bytes.
	Line, Column int
	// Event is the index (from 0) of the event being decoded, or -1 when
	// the problem is outside any event.
	Event int
	// Syntax is true when the body is not valid JSON (or one NDJSON line is
	// not), false when it is JSON of the wrong shape.
	Syntax bool
	// Msg says what is wrong.
	Msg string

	err error // ErrNoEvents, or nil
}

func (e *DecodeError) Error() string {
	where := fmt.Sprintf("line %d, column %d (byte %d)", e.Line, e.Column, e.Offset)
	if e.Event >= 0 {
		where += fmt.Sprintf(", event %d", e.Event)
	}
	if e.Syntax {
		return "invalid JSON at " + where + ": " + e.Msg
	}
	return where + ": " + e.Msg
}

// Unwrap returns ErrNoEvents for an empty batch.
func (e *DecodeError) Unwrap() error { return e.err }

// maxDepth is encoding/json's nesting limit, kept so that both accept the
// same bodies.
const maxDepth = 10000

// eventFields names the fields an event may have, for error messages.
const eventFields = `"key", "value", "value_b64", "headers", "timestamp" and "partition"`

// Decode decodes a JSON produce body: one event object, or
// {"events": [event, ...]} with at least one event. It appends the events
// to dst[:0] and returns it. More than maxEvents events (when maxEvents > 0)
// is an error matching ErrTooManyEvents; any other error is a *DecodeError.
// The events alias body (see the package notes).
func Decode(body []byte, dst []event.Event, maxEvents int) ([]event.Event, error) {
	d := decoder{buf: body, body: body, out: dst[:0], max: maxEvents, event: -1}
	err := d.decodeDocument()
	return d.finish(err)
}

// DecodeNDJSON decodes an application/x-ndjson produce body: one event
// object per line; lines holding only white space are skipped, and there
// must be at least one event. Errors are as for Decode, and name the line.
func DecodeNDJSON(body []byte, dst []event.Event, maxEvents int) ([]event.Event, error) {
	d := decoder{body: body, out: dst[:0], max: maxEvents, event: -1}
	err := d.decodeLines()
	return d.finish(err)
}

// decoder holds the state of one Decode or DecodeNDJSON call.
type decoder struct {
	body  []byte // the whole body, for line numbers
	buf   []byte // what is being scanned: body, or body up to a line's end
	pos   int
	depth int
	max   int
	event int // index of the event being decoded, -1 outside

	out []event.Event
	// arena holds decoded strings; it is replaced, never grown, when full,
	// so that slices handed out stay valid.
	arena []byte
	// hdrs holds the headers of all events; each event's Headers is a
	// capped sub-slice, so appends for later events never touch it.
	hdrs []event.Header
	// lastHdrs are the headers of the last event that had any.
	lastHdrs []event.Header
	// scratch is reused for strings that do not outlive the call (member
	// names, escaped base64 text).
	scratch []byte
}

func (d *decoder) finish(err error) ([]event.Event, error) {
	if err == nil {
		return d.out, nil
	}
	var de *DecodeError
	if errors.As(err, &de) {
		de.Line = 1 + bytes.Count(d.body[:de.Offset], []byte{'\n'})
		de.Column = de.Offset - bytes.LastIndexByte(d.body[:de.Offset], '\n')
	}
	return d.out, err
}

func (d *decoder) syntaxErr(format string, args ...any) error {
	return &DecodeError{Offset: d.pos, Event: d.event, Syntax: true, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) shapeErrAt(off int, format string, args ...any) error {
	return &DecodeError{Offset: off, Event: d.event, Msg: fmt.Sprintf(format, args...)}
}

// unexpected is the syntax error for the byte at d.pos (or the end).
func (d *decoder) unexpected(context string) error {
	if d.pos >= len(d.buf) {
		if d.pos < len(d.body) && d.body[d.pos] == '\n' {
			return d.syntaxErr("unexpected end of line %s", context)
		}
		return d.syntaxErr("unexpected end of input %s", context)
	}
	return d.syntaxErr("unexpected %s %s", describe(d.buf[d.pos:]), context)
}

// describe names the character at the start of b for an error message.
func describe(b []byte) string {
	c := b[0]
	switch {
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("control character %U", rune(c))
	case c < utf8.RuneSelf:
		return fmt.Sprintf("character %q", rune(c))
	}
	r, size := utf8.DecodeRune(b)
	if r == utf8.RuneError && size == 1 {
		return fmt.Sprintf("byte 0x%02x (not UTF-8)", c)
	}
	return fmt.Sprintf("character %q", r)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *decoder) skipSpace() {
	for d.pos < len(d.buf) && isSpace(d.buf[d.pos]) {
		d.pos++
	}
}

// decodeDocument decodes a whole JSON body.
func (d *decoder) decodeDocument() error {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return d.syntaxErr("the body is empty; send one event or {\"events\": [...]}")
	}
	if d.buf[d.pos] != '{' {
		start := d.pos
		if err := d.skipValue(); err != nil {
			return err
		}
		return d.shapeErrAt(start, "the body must be a JSON object: one event or {\"events\": [...]}")
	}
	if err := d.decodeTop(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.buf) {
		return d.unexpected("after the JSON object")
	}
	return nil
}

// decodeLines decodes NDJSON: each line on its own.
func (d *decoder) decodeLines() error {
	for start := 0; start < len(d.body); {
		end := bytes.IndexByte(d.body[start:], '\n')
		if end < 0 {
			end = len(d.body)
		} else {
			end += start
		}
		d.buf = d.body[:end]
		d.pos = start
		d.skipSpace()
		if d.pos < end {
			if d.buf[d.pos] != '{' {
				at := d.pos
				if err := d.skipValue(); err != nil {
					return err
				}
				return d.shapeErrAt(at, "each line must be one event, a JSON object")
			}
			if err := d.decodeEvent(); err != nil {
				return err
			}
			d.skipSpace()
			if d.pos < end {
				return d.unexpected("after the event; put one event on each line")
			}
		}
		start = end + 1
	}
	if len(d.out) == 0 {
		d.buf = d.body
		d.pos = len(d.body)
		return &DecodeError{Offset: d.pos, Event: -1, Msg: "the body has no events; send at least one, one per line", err: ErrNoEvents}
	}
	return nil
}

// decodeTop decodes the top-level object, at d.pos == '{': either the
// {"events": [...]} wrapper or a single event. The first member decides.
func (d *decoder) decodeTop() error {
	save := d.pos
	d.pos++
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '"' {
		name, err := d.memberName()
		if err != nil {
			return err
		}
		if string(name) == "events" {
			return d.decodeBatch()
		}
	}
	d.pos = save
	return d.decodeEvent()
}

// decodeBatch decodes the rest of {"events": [...]}, with d.pos just past
// the name "events".
func (d *decoder) decodeBatch() error {
	d.depth++
	if err := d.colon(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '[' {
		at := d.pos
		if d.pos < len(d.buf) {
			if err := d.skipValue(); err != nil {
				return err
			}
		} else {
			return d.unexpected("looking for the events array")
		}
		return d.shapeErrAt(at, "\"events\" must be an array of events")
	}
	arrayAt := d.pos
	d.pos++
	if err := d.push(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
		d.pos++
		d.depth--
		// Finish the object first, so a syntax error after it wins.
		if err := d.endTop(); err != nil {
			return err
		}
		return &DecodeError{Offset: arrayAt, Event: -1, Msg: "\"events\" is empty; send at least one event", err: ErrNoEvents}
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.buf) || d.buf[d.pos] != '{' {
			if d.pos >= len(d.buf) {
				return d.unexpected("looking for an event")
			}
			d.event = len(d.out)
			at := d.pos
			if err := d.skipValue(); err != nil {
				return err
			}
			return d.shapeErrAt(at, "each element of \"events\" must be an event, a JSON object")
		}
		if err := d.decodeEvent(); err != nil {
			return err
		}
		d.event = -1
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("in the events array")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
			continue
		case ']':
			d.pos++
			d.depth--
			return d.endTop()
		}
		return d.unexpected("after an event; want ',' or ']'")
	}
}

// endTop checks that nothing but the end of the wrapper object follows the
// events array.
func (d *decoder) endTop() error {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return d.unexpected("looking for the end of the object")
	}
	switch d.buf[d.pos] {
	case '}':
		d.pos++
		d.depth--
		return nil
	case ',':
		d.pos++
		d.skipSpace()
		if d.pos < len(d.buf) && d.buf[d.pos] == '"' {
			at := d.pos
			name, err := d.memberName()
			if err != nil {
				return err
			}
			return d.shapeErrAt(at, "unexpected field %q beside \"events\"; the body is one event or {\"events\": [...]} alone", name)
		}
		return d.unexpected("looking for a field name")
	}
	return d.unexpected("after the events array; want '}'")
}

func (d *decoder) push() error {
	d.depth++
	if d.depth > maxDepth {
		return d.syntaxErr("JSON is nested more than %d levels deep", maxDepth)
	}
	return nil
}

func (d *decoder) colon() error {
	d.skipSpace()
	if d.pos >= len(d.buf) || d.buf[d.pos] != ':' {
		return d.unexpected("after a field name; want ':'")
	}
	d.pos++
	return nil
}

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
		return fmt.Errorf("more than %d events: %w", d.max, ErrTooManyEvents)
	}
	d.event = len(d.out)
	d.pos++
	if err := d.push(); err != nil {
		return err
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
		if err := d.colon(); err != nil {
			return err
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
		if err := d.skipValue(); err != nil {
			return err
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
	if err := d.skipValue(); err != nil {
		return err
	}
	return d.shapeErrAt(at, "%s", msg)
}

// integer decodes a non-negative JSON integer of at most max.
func (d *decoder) integer(at int, msg string, max int64) (int64, error) {
	c := d.buf[d.pos]
	if c != '-' && (c < '0' || c > '9') {
		return 0, d.wrongType(at, msg)
	}
	if err := d.skipNumber(); err != nil {
		return 0, err
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
	if err := d.push(); err != nil {
		return err
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
		if err := d.colon(); err != nil {
			return err
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
	start, end, escaped, err := d.scanString()
	if err != nil {
		return err
	}
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
	start, end, escaped, err := d.scanString()
	if err != nil {
		return nil, err
	}
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
	start, end, escaped, err := d.scanString()
	if err != nil {
		return nil, err
	}
	if !escaped {
		return d.buf[start:end], nil
	}
	d.scratch = unescape(d.scratch[:0], d.buf[start:end])
	return d.scratch, nil
}

// strPlain marks the bytes a string may hold without a closer look.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string at d.pos == '"' and moves past it. It
// returns the bounds of its content and whether it has escapes.
func (d *decoder) scanString() (start, end int, escaped bool, err error) {
	b := d.buf
	i := d.pos + 1
	start = i
	for {
		// Eight bytes at a time while none needs a closer look.
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			d.pos = i
			return 0, 0, false, d.unexpected("in a string; it has no closing quote")
		}
		switch c := b[i]; {
		case c == '"':
			d.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				d.pos = i + 1
				return 0, 0, false, d.unexpected("in a string escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(b) || !isHex(b[i+k]) {
						d.pos = i + k
						return 0, 0, false, d.unexpected("in a \\u escape; want 4 hex digits")
					}
				}
				i += 6
			default:
				d.pos = i
				return 0, 0, false, d.syntaxErr("invalid escape %q in a string", b[i:i+2])
			}
		case c < 0x20:
			d.pos = i
			return 0, 0, false, d.syntaxErr("control character %U in a string; escape it", rune(c))
		default: // c >= 0x80
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				d.pos = i
				return 0, 0, false, d.syntaxErr("byte 0x%02x in a string is not UTF-8", c)
			}
			i += size
		}
	}
}

// special8 reports whether any of the eight bytes in w is a quote, a
// backslash, a control character or not ASCII (the SWAR tests of "Bit
// Twiddling Hacks": a byte below n exists iff (w - n*lo) & ^w & hi != 0).
func special8(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote := w ^ ('"' * lo)
	backslash := w ^ ('\\' * lo)
	return ((w-0x20*lo)&^w|(quote-lo)&^quote|(backslash-lo)&^backslash|w)&hi != 0
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unescape appends the decoded content of a string checked by scanString.
// Like encoding/json it turns a lone UTF-16 surrogate into U+FFFD. The
// output is never longer than src.
func unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			j := bytes.IndexByte(src[i:], '\\')
			if j < 0 {
				return append(dst, src[i:]...)
			}
			dst = append(dst, src[i:i+j]...)
			i += j
			continue
		}
		switch src[i+1] {
		case 'u':
			r := hex4(src[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					r2 = hex4(src[i+2 : i+6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, src[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipValue checks the JSON value at d.pos and moves past it.
func (d *decoder) skipValue() error {
	if d.pos >= len(d.buf) {
		return d.unexpected("looking for a value")
	}
	switch c := d.buf[d.pos]; c {
	case '"':
		_, _, _, err := d.scanString()
		return err
	case '{':
		return d.skipObject()
	case '[':
		return d.skipArray()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return d.skipNumber()
		}
		return d.unexpected("looking for a value")
	}
}

func (d *decoder) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if d.pos >= len(d.buf) || d.buf[d.pos] != word[k] {
			return d.unexpected(fmt.Sprintf("in the literal %s", word))
		}
		d.pos++
	}
	return nil
}

// skipNumber checks a number, per RFC 8259:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) skipNumber() error {
	b := d.buf
	if b[d.pos] == '-' {
		d.pos++
	}
	digits := func() bool {
		s := d.pos
		for d.pos < len(b) && '0' <= b[d.pos] && b[d.pos] <= '9' {
			d.pos++
		}
		return d.pos > s
	}
	switch {
	case d.pos < len(b) && b[d.pos] == '0':
		d.pos++
	case !digits():
		return d.unexpected("in a number; want a digit")
	}
	if d.pos < len(b) && b[d.pos] == '.' {
		d.pos++
		if !digits() {
			return d.unexpected("after the decimal point; want a digit")
		}
	}
	if d.pos < len(b) && (b[d.pos] == 'e' || b[d.pos] == 'E') {
		d.pos++
		if d.pos < len(b) && (b[d.pos] == '+' || b[d.pos] == '-') {
			d.pos++
		}
		if !digits() {
			return d.unexpected("in an exponent; want a digit")
		}
	}
	return nil
}

func (d *decoder) skipObject() error {
	d.pos++
	if err := d.push(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
			return d.unexpected("looking for a field name")
		}
		if _, _, _, err := d.scanString(); err != nil {
			return err
		}
		if err := d.colon(); err != nil {
			return err
		}
		d.skipSpace()
		if err := d.skipValue(); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("in an object")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
			continue
		case '}':
			d.pos++
			d.depth--
			return nil
		}
		return d.unexpected("after an object field; want ',' or '}'")
	}
}

func (d *decoder) skipArray() error {
	d.pos++
	if err := d.push(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		d.skipSpace()
		if err := d.skipValue(); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.unexpected("in an array")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
			continue
		case ']':
			d.pos++
			d.depth--
			return nil
		}
		return d.unexpected("after an array element; want ',' or ']'")
	}
}
