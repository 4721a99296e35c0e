package eventjson

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/gateway/event"
)

// Decoding produce bodies.
//
// The decoder is hand-written, a single pass of the package's JSON scanner
// (scanner.go) over the body: produce is the gateway's hot path, and
// encoding/json's reflection costs several allocations per event. It
// accepts exactly the JSON that encoding/json accepts, which
// FuzzDecodeAgainstEncodingJSON checks. This file walks the body's shape
// (one event, {"events": [...]}, NDJSON lines); event.go decodes an event.
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

// eventFields names the fields an event may have, for error messages.
const eventFields = `"key", "value", "value_b64", "headers", "timestamp" and "partition"`

// Decode decodes a JSON produce body: one event object, or
// {"events": [event, ...]} with at least one event. It appends the events
// to dst[:0] and returns it. More than maxEvents events (when maxEvents > 0)
// is an error matching ErrTooManyEvents; any other error is a *DecodeError.
// The events alias body (see the package notes).
func Decode(body []byte, dst []event.Event, maxEvents int) ([]event.Event, error) {
	d := decoder{scanner: scanner{buf: body}, body: body, out: dst[:0], max: maxEvents, event: -1}
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

// decoder holds the state of one Decode or DecodeNDJSON call. Its scanner
// checks the JSON; the decoder walks the body's shape with it and builds
// the events.
type decoder struct {
	scanner        // buf is body, or body up to an NDJSON line's end
	body    []byte // the whole body, for line numbers
	max     int
	event   int // index of the event being decoded, -1 outside

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

// scanError is the syntax error for the scanner's fault.
func (d *decoder) scanError() error {
	f := d.fault
	d.pos = f.at
	switch f.kind {
	case badLiteral:
		return d.unexpected("in the literal " + f.context)
	case badEscape:
		return d.syntaxErr("invalid escape %q in a string", d.buf[f.at:f.at+2])
	case rawControl:
		return d.syntaxErr("control character %U in a string; escape it", rune(d.buf[f.at]))
	case notUTF8:
		return d.syntaxErr("byte 0x%02x in a string is not UTF-8", d.buf[f.at])
	case tooDeep:
		return d.syntaxErr("JSON is nested more than %d levels deep", maxDepth)
	}
	return d.unexpected(f.context)
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

// decodeDocument decodes a whole JSON body.
func (d *decoder) decodeDocument() error {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return d.syntaxErr("the body is empty; send one event or {\"events\": [...]}")
	}
	if d.buf[d.pos] != '{' {
		start := d.pos
		if !d.skipValue() {
			return d.scanError()
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
				if !d.skipValue() {
					return d.scanError()
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
	if !d.colon() {
		return d.scanError()
	}
	d.skipSpace()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '[' {
		at := d.pos
		if d.pos < len(d.buf) {
			if !d.skipValue() {
				return d.scanError()
			}
		} else {
			return d.unexpected("looking for the events array")
		}
		return d.shapeErrAt(at, "\"events\" must be an array of events")
	}
	arrayAt := d.pos
	d.pos++
	if !d.push() {
		return d.scanError()
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
			if !d.skipValue() {
				return d.scanError()
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
