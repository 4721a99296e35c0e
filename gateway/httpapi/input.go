package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// maxTopicNameLen is Kafka's limit on topic names.
const maxTopicNameLen = 249

// validateTopicName applies Kafka's rules: 1–249 of [a-zA-Z0-9._-], and
// not "." or "..".
func validateTopicName(name string) error {
	switch {
	case name == "":
		return apierr.Invalid("topic name is empty")
	case len(name) > maxTopicNameLen:
		return apierr.Invalid("topic name is %d characters; at most %d", len(name), maxTopicNameLen)
	case name == "." || name == "..":
		return apierr.Invalid("topic name %q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return apierr.Invalid("topic name %q has %q; topic names use letters, digits, '.', '_' and '-'", name, rune(c))
		}
	}
	return nil
}

// mediaType is a request body's kind.
type mediaType int

const (
	mediaJSON mediaType = iota
	mediaNDJSON
)

// requestMediaType reads Content-Type: application/json (also when
// absent) or, where ndjson is true, application/x-ndjson; anything else
// is 415.
func requestMediaType(c *fiber.Ctx, ndjson bool) (mediaType, error) {
	ct := c.Request().Header.ContentType()
	mt := ct
	if i := bytes.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = bytes.TrimSpace(mt)
	switch {
	case len(mt) == 0, bytes.EqualFold(mt, []byte(fiber.MIMEApplicationJSON)):
		return mediaJSON, nil
	case ndjson && bytes.EqualFold(mt, []byte("application/x-ndjson")):
		return mediaNDJSON, nil
	}
	want := "application/json"
	if ndjson {
		want = "application/json or application/x-ndjson"
	}
	return 0, apierr.New(http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
		"Content-Type %q is not accepted; use %s", ct, want)
}

// jsonObject reads a request's JSON object body (checking its media type
// first) and decodes it with decodeObject.
func (s *Server) jsonObject(c *fiber.Ctx, fields ...string) (map[string]json.RawMessage, error) {
	if _, err := requestMediaType(c, false); err != nil {
		return nil, err
	}
	body, err := s.body(c)
	if err != nil {
		return nil, err
	}
	return decodeObject(body, fields...)
}

// decodeObject parses a JSON object body whose members may only be
// fields, none of them null. It returns the members' raw values.
func decodeObject(body []byte, fields ...string) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidJSON,
			Message: "body: the body is empty; send a JSON object"}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, apierr.Invalid("body: want a JSON object, got %s", te.Value)
		}
		return nil, invalidJSON(body, err)
	}
	if m == nil {
		return nil, apierr.Invalid("body: want a JSON object, got null")
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(fields, k) {
			return nil, apierr.Invalid("body: unknown field %q; the fields are %s", k, strings.Join(quoteAll(fields), ", "))
		}
		if string(m[k]) == "null" {
			return nil, apierr.Invalid("body: %q is null; leave it out instead", k)
		}
	}
	return m, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// stringField decodes a JSON string member.
func stringField(m map[string]json.RawMessage, name string) (string, bool, error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, apierr.Invalid("body: %q must be a string, got %s", name, raw)
	}
	return s, true, nil
}

// intField decodes a JSON integer member within [lo, hi].
func intField(m map[string]json.RawMessage, name string, lo, hi int64) (int64, bool, error) {
	raw, ok := m[name]
	if !ok {
		return 0, false, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n < lo || n > hi {
		if hi == math.MaxInt32 {
			return 0, true, apierr.Invalid("body: %q must be an integer, at least %d; got %s", name, lo, raw)
		}
		return 0, true, apierr.Invalid("body: %q must be an integer from %d to %d; got %s", name, lo, hi, raw)
	}
	return n, true, nil
}

// parseUint parses a decimal integer of digits only, at most hi.
func parseUint(s string, hi int64) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, n <= hi
}

// queryInt reads an optional non-negative integer query parameter within
// [lo, hi]; def when absent.
func queryInt(c *fiber.Ctx, name string, lo, hi, def int64, what string) (int64, error) {
	args := c.Request().URI().QueryArgs()
	if !args.Has(name) {
		return def, nil
	}
	v := string(args.Peek(name))
	n, ok := parseUint(v, hi)
	if !ok || n < lo {
		return 0, apierr.Invalid("%s: must be %s, got %q", name, what, v)
	}
	return n, nil
}
