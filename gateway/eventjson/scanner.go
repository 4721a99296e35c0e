package eventjson

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON scanner.
//
// One scanner checks JSON text for both directions: the produce decoder
// walks a body with it (and builds events from what it finds), and the
// encoder asks it whether a stored value is one JSON text (validJSON). It
// accepts exactly what encoding/json accepts, RFC 8259 text of valid UTF-8
// nested up to maxDepth deep, which FuzzDecodeAgainstEncodingJSON and
// FuzzValidJSON check against encoding/json.
//
// It works in place on a byte slice and allocates nothing, failure
// included: a check that fails returns false and leaves a fault saying
// where and why, which the decoder turns into its error message and
// validJSON simply drops (stored values that are not JSON are common, and
// each is encoded as base64 instead). Containers are walked in a loop, not
// by recursion, so that hostile nesting costs a bit per level (on the heap
// past 64 levels) rather than a stack frame: a deeply nested stored value
// read by many subscribers at once must not grow every reader's stack.

// maxDepth is encoding/json's nesting limit, kept so that both accept the
// same texts.
const maxDepth = 10000

// scanner is a position in JSON text being checked.
type scanner struct {
	buf   []byte // the text; the decoder cuts it at an NDJSON line's end
	pos   int
	depth int   // containers open, counted against maxDepth
	fault fault // why the last check failed
}

// fault says why a check failed, without formatting anything: most faults
// met by validJSON are dropped.
type fault struct {
	at   int
	kind faultKind
	// context is where the scanner was, for unexpectedByte ("in an
	// array"), or the literal being read, for badLiteral.
	context string
}

type faultKind uint8

const (
	unexpectedByte faultKind = iota // the byte at at, or the end, does not fit context
	badLiteral                      // the text at at is not the literal context
	badEscape                       // an invalid escape sequence starts at at
	rawControl                      // a raw control character in a string at at
	notUTF8                         // a byte at at in a string is not UTF-8
	tooDeep                         // a container opened just before at nests too deep
)

// fail records a fault at s.pos and returns false.
func (s *scanner) fail(kind faultKind, context string) bool {
	s.fault = fault{at: s.pos, kind: kind, context: context}
	return false
}

// validJSON reports whether b is one JSON text, as json.Valid does, and
// valid UTF-8, in one pass and without allocating.
func validJSON(b []byte) bool {
	s := scanner{buf: b}
	s.skipSpace()
	if !s.skipValue() {
		return false
	}
	s.skipSpace()
	return s.pos == len(b)
}

// isSpace reports whether c is JSON white space. Most bytes are above ' ',
// which one comparison rules out.
func isSpace(c byte) bool {
	const space = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'
	return c <= ' ' && space>>c&1 != 0
}

func (s *scanner) skipSpace() {
	b, i := s.buf, s.pos
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	s.pos = i
}

// push counts a container just opened.
func (s *scanner) push() bool {
	s.depth++
	if s.depth > maxDepth {
		return s.fail(tooDeep, "")
	}
	return true
}

// colon moves past the space and the ':' after a member name.
func (s *scanner) colon() bool {
	s.skipSpace()
	if s.pos < len(s.buf) && s.buf[s.pos] == ':' {
		s.pos++
		return true
	}
	return s.fail(unexpectedByte, "after a field name; want ':'")
}

// skipValue checks the JSON value at s.pos and moves past it.
func (s *scanner) skipValue() bool {
	base := s.depth
	var open nesting  // the containers opened here, innermost last
	inObject := false // the innermost of them is an object
	for {
		// A value starts at s.pos.
		if s.pos >= len(s.buf) {
			return s.fail(unexpectedByte, "looking for a value")
		}
		switch c := s.buf[s.pos]; c {
		case '{', '[':
			s.pos++
			if !s.push() {
				return false
			}
			inObject = c == '{'
			open.push(inObject)
			s.skipSpace()
			if s.pos < len(s.buf) && (inObject && s.buf[s.pos] == '}' || !inObject && s.buf[s.pos] == ']') {
				break // empty: the container is the value that ended
			}
			if inObject && !s.skipName() {
				return false
			}
			continue
		case '"':
			if _, ok := s.skipString(); !ok {
				return false
			}
		case 't':
			if !s.literal("true") {
				return false
			}
		case 'f':
			if !s.literal("false") {
				return false
			}
		case 'n':
			if !s.literal("null") {
				return false
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return s.fail(unexpectedByte, "looking for a value")
			}
			if !s.skipNumber() {
				return false
			}
		}
		// A value ended: close containers until one goes on with another.
		for s.depth > base {
			s.skipSpace()
			if s.pos >= len(s.buf) {
				if inObject {
					return s.fail(unexpectedByte, "in an object")
				}
				return s.fail(unexpectedByte, "in an array")
			}
			c := s.buf[s.pos]
			if c == ',' {
				s.pos++
				s.skipSpace()
				if inObject && !s.skipName() {
					return false
				}
				break
			}
			if inObject && c != '}' {
				return s.fail(unexpectedByte, "after an object field; want ',' or '}'")
			}
			if !inObject && c != ']' {
				return s.fail(unexpectedByte, "after an array element; want ',' or ']'")
			}
			s.pos++
			s.depth--
			inObject = open.pop()
		}
		if s.depth == base {
			return true
		}
	}
}

// skipName checks an object member's name and the colon after it, at
// s.pos, and moves past the space after them.
func (s *scanner) skipName() bool {
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		return s.fail(unexpectedByte, "looking for a field name")
	}
	if _, ok := s.skipString(); !ok {
		return false
	}
	if !s.colon() {
		return false
	}
	s.skipSpace()
	return true
}

// nesting is a stack of one bit per container (set for an object). The
// first 64 levels fit in a word; only hostile input nests deeper, and pays
// for the slice.
type nesting struct {
	n     uint
	word  uint64
	spill []uint64
}

func (t *nesting) push(object bool) {
	i := t.n
	t.n++
	w := &t.word
	if i >= 64 {
		j := int(i/64 - 1)
		if j == len(t.spill) {
			t.spill = append(t.spill, 0)
		}
		w = &t.spill[j]
	}
	if object {
		*w |= 1 << (i % 64)
	} else {
		*w &^= 1 << (i % 64)
	}
}

// pop closes the innermost container and reports whether the one around
// it, if any, is an object.
func (t *nesting) pop() bool {
	t.n--
	if t.n == 0 {
		return false
	}
	i := t.n - 1
	w := t.word
	if i >= 64 {
		w = t.spill[i/64-1]
	}
	return w&(1<<(i%64)) != 0
}

// literal checks the literal word at s.pos and moves past it.
func (s *scanner) literal(word string) bool {
	if len(s.buf)-s.pos >= len(word) && string(s.buf[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	for k := 0; s.pos < len(s.buf) && s.buf[s.pos] == word[k]; k++ {
		s.pos++ // the fault is at the first byte that differs
	}
	return s.fail(badLiteral, word)
}

// skipNumber checks the number at s.pos, per RFC 8259:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) skipNumber() bool {
	b, i := s.buf, s.pos
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i+1)
	default:
		s.pos = i
		return s.fail(unexpectedByte, "in a number; want a digit")
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			s.pos = j
			return s.fail(unexpectedByte, "after the decimal point; want a digit")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			s.pos = i
			return s.fail(unexpectedByte, "in an exponent; want a digit")
		}
		i = j
	}
	s.pos = i
	return true
}

// digitsEnd returns the index after the decimal digits of b from i on.
func digitsEnd(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// strPlain marks the bytes a string may hold without a closer look.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString checks the string at s.pos == '"' and moves past it (its
// content is what lies between the quotes), reporting whether it has
// escapes.
func (s *scanner) skipString() (escaped, ok bool) {
	b := s.buf
	i := s.pos + 1
	for {
		// Byte by byte through the first eight (most strings end
		// there: member names, short values), then eight at a time
		// while none needs a closer look.
		stop := min(i+8, len(b))
		for i < stop && strPlain[b[i]] {
			i++
		}
		if i == stop {
			for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
				i += 8
			}
			for i < len(b) && strPlain[b[i]] {
				i++
			}
		}
		if i >= len(b) {
			s.pos = i
			return false, s.fail(unexpectedByte, "in a string; it has no closing quote")
		}
		switch c := b[i]; {
		case c == '"':
			s.pos = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.pos = i + 1
				return false, s.fail(unexpectedByte, "in a string escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(b) || !isHex(b[i+k]) {
						s.pos = i + k
						return false, s.fail(unexpectedByte, "in a \\u escape; want 4 hex digits")
					}
				}
				i += 6
			default:
				s.pos = i
				return false, s.fail(badEscape, "")
			}
		case c < 0x20:
			s.pos = i
			return false, s.fail(rawControl, "")
		default: // c >= 0x80
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				return false, s.fail(notUTF8, "")
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

// unescape appends the decoded content of a string checked by skipString.
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
