package wsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/eventjson"
)

// Error codes of error frames beyond apierr's common ones.
const (
	codeUnsupported          = "unsupported"
	codeSubscriptionExists   = "subscription_exists"
	codeSubscriptionNotFound = "subscription_not_found"
	codeTooManySubscriptions = "too_many_subscriptions"
)

// Close codes beyond RFC 6455's, as openapi.yaml lists them.
const (
	// closeTokenExpired: the socket's token expired unrefreshed (4000 +
	// HTTP 401, as the API names it).
	closeTokenExpired = 4001
	// closeNotAuthenticated: the socket never authenticated: a frame other
	// than a good auth frame came first, or none in time. 4401 is what
	// graphql-ws uses for the same; a client must not read it as an expired
	// token it could refresh.
	closeNotAuthenticated = 4401
)

// maxIDBytes bounds a subscription id.
const maxIDBytes = 256

// frameKind is the "type" of a client frame, as counted in metrics.
type frameKind string

const (
	kindAuth        frameKind = "auth"
	kindSubscribe   frameKind = "subscribe"
	kindUnsubscribe frameKind = "unsubscribe"
	kindCommit      frameKind = "commit"
	kindUnknown     frameKind = "unknown" // a "type" the server does not know
	kindInvalid     frameKind = "invalid" // not a JSON object with a string "type"
)

var frameKinds = []frameKind{kindAuth, kindSubscribe, kindUnsubscribe, kindCommit, kindUnknown, kindInvalid}

// fromKind is the form of a subscribe frame's "from".
type fromKind int

const (
	fromLatest fromKind = iota
	fromEarliest
	fromOffset
	fromTime
	fromOffsets
)

// fromSpec is a parsed "from".
type fromSpec struct {
	kind    fromKind
	value   int64           // the offset of fromOffset, the ms of fromTime
	offsets map[int32]int64 // fromOffsets
}

// clientFrame is a parsed client frame; only the fields of its kind are
// set.
type clientFrame struct {
	kind       frameKind
	typ        string // as sent, for the unknown-type error
	id         string
	token      string
	topic      string
	from       fromSpec
	partitions []int32         // nil: all
	group      string          // the consumer group; "" for none
	batch      bool            // a subscribe frame asks for events frames
	offsets    map[int32]int64 // a commit frame's
}

// kindOf is the kind of a frame with "type" typ.
func kindOf(typ string) frameKind {
	switch k := frameKind(typ); k {
	case kindAuth, kindSubscribe, kindUnsubscribe, kindCommit:
		return k
	}
	return kindUnknown
}

// maxGroupBytes bounds a group id, as Kafka's tools do.
const maxGroupBytes = 249

// parseFrame parses a client text frame. On error it returns what it
// parsed so far, so that the error frame can carry the id and metrics the
// kind.
func parseFrame(data []byte) (*clientFrame, *apierr.Error) {
	f := &clientFrame{kind: kindInvalid}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		if json.Valid(data) {
			return f, apierr.New(http.StatusBadRequest, apierr.CodeInvalidJSON, "a frame must be a JSON object with a \"type\"")
		}
		return f, apierr.New(http.StatusBadRequest, apierr.CodeInvalidJSON, "frame is not valid JSON: %v", err)
	}
	// The kind first, so that an error about the id still says which
	// frame it answers.
	raw, ok := fields["type"]
	typed := ok && json.Unmarshal(raw, &f.typ) == nil
	if typed {
		f.kind = kindOf(f.typ)
	}
	if raw, ok := fields["id"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &f.id); err != nil {
			return f, apierr.Invalid("\"id\" must be a string")
		}
		if f.id == "" || len(f.id) > maxIDBytes {
			return f, apierr.Invalid("\"id\" must be 1 to %d bytes long", maxIDBytes)
		}
	}
	if !typed {
		return f, apierr.Invalid("a frame needs a string \"type\": \"auth\", \"subscribe\", \"unsubscribe\" or \"commit\"")
	}
	switch f.typ {
	case string(kindAuth):
		if json.Unmarshal(fields["token"], &f.token) != nil || f.token == "" {
			return f, apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated, "an auth frame needs a \"token\" string holding a JWT")
		}
	case string(kindSubscribe):
		if f.id == "" {
			return f, apierr.Invalid("a subscribe frame needs an \"id\" naming the subscription")
		}
		if g, ok := fields["group"]; ok && !isNull(g) {
			if json.Unmarshal(g, &f.group) != nil || f.group == "" || len(f.group) > maxGroupBytes {
				return f, apierr.Invalid("\"group\" must be a string of 1 to %d bytes", maxGroupBytes)
			}
			if raw, ok := fields["partitions"]; ok && !isNull(raw) {
				return f, apierr.Invalid("\"partitions\" may not be given with \"group\": the group assigns them")
			}
		}
		if json.Unmarshal(fields["topic"], &f.topic) != nil || f.topic == "" {
			return f, apierr.Invalid("a subscribe frame needs a \"topic\" string")
		}
		if raw, ok := fields["batch"]; ok && json.Unmarshal(raw, &f.batch) != nil {
			return f, apierr.Invalid("\"batch\" must be true or false")
		}
		var err *apierr.Error
		if f.from, err = parseFrom(fields["from"]); err != nil {
			return f, err
		}
		if raw, ok := fields["partitions"]; ok && !isNull(raw) {
			if f.partitions, err = parsePartitions(raw); err != nil {
				return f, err
			}
		}
		if f.group != "" && f.from.kind == fromOffsets {
			return f, apierr.Invalid("with \"group\", \"from\" is \"latest\", \"earliest\", an offset or {\"time\": ms}: committed offsets say where each partition starts")
		}
		if f.from.kind == fromOffsets && f.partitions != nil {
			for p := range f.from.offsets {
				if !slices.Contains(f.partitions, p) {
					return f, apierr.Invalid("\"from\" names an offset for partition %d, which is not in \"partitions\"", p)
				}
			}
		}
	case string(kindUnsubscribe):
		if f.id == "" {
			return f, apierr.Invalid("an unsubscribe frame needs the \"id\" of the subscription")
		}
	case string(kindCommit):
		if f.id == "" {
			return f, apierr.Invalid("a commit frame needs the \"id\" of a group subscription")
		}
		spec, err := parseFrom(json.RawMessage(`{"offsets":` + string(bytes.TrimSpace(fields["offsets"])) + `}`))
		if len(bytes.TrimSpace(fields["offsets"])) == 0 || err != nil || len(spec.offsets) == 0 {
			return f, apierr.Invalid("a commit frame needs \"offsets\": {\"<partition>\": next offset}, at least one")
		}
		f.offsets = spec.offsets
	default:
		return f, apierr.Invalid("unknown frame type %q: want \"auth\", \"subscribe\", \"unsubscribe\" or \"commit\"", truncate(f.typ, 64))
	}
	return f, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

const fromForms = `"latest", "earliest", an offset, {"time": ms} or {"offsets": {"<partition>": offset}}`

// parseFrom parses "from"; absent or null is "latest".
func parseFrom(raw json.RawMessage) (fromSpec, *apierr.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return fromSpec{kind: fromLatest}, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			switch s {
			case "latest":
				return fromSpec{kind: fromLatest}, nil
			case "earliest":
				return fromSpec{kind: fromEarliest}, nil
			}
		}
		return fromSpec{}, apierr.Invalid("\"from\" is %s; want %s", truncate(string(raw), 64), fromForms)
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
			return fromSpec{}, apierr.Invalid("\"from\" as an object must have exactly one of \"time\" and \"offsets\"; want %s", fromForms)
		}
		if t, ok := obj["time"]; ok {
			ms, err := nonNegative(t, "\"from\".\"time\"", math.MaxInt64)
			if err != nil {
				return fromSpec{}, err
			}
			return fromSpec{kind: fromTime, value: ms}, nil
		}
		o, ok := obj["offsets"]
		var offs map[string]json.RawMessage
		if !ok || json.Unmarshal(o, &offs) != nil || offs == nil {
			return fromSpec{}, apierr.Invalid("\"from\" as an object must be {\"time\": ms} or {\"offsets\": {\"<partition>\": offset}}")
		}
		spec := fromSpec{kind: fromOffsets, offsets: make(map[int32]int64, len(offs))}
		for k, v := range offs {
			p, err := strconv.ParseInt(k, 10, 32)
			if err != nil || p < 0 || strconv.Itoa(int(p)) != k {
				return fromSpec{}, apierr.Invalid("\"from\".\"offsets\" key %q is not a partition number", truncate(k, 32))
			}
			off, aerr := nonNegative(v, fmt.Sprintf("\"from\".\"offsets\".%q", k), math.MaxInt64)
			if aerr != nil {
				return fromSpec{}, aerr
			}
			spec.offsets[int32(p)] = off
		}
		return spec, nil
	}
	off, err := nonNegative(raw, "\"from\"", math.MaxInt64)
	if err != nil {
		return fromSpec{}, apierr.Invalid("\"from\" is %s; want %s", truncate(string(raw), 64), fromForms)
	}
	return fromSpec{kind: fromOffset, value: off}, nil
}

// nonNegative parses a JSON integer in [0, max].
func nonNegative(raw json.RawMessage, what string, max int64) (int64, *apierr.Error) {
	s := string(bytes.TrimSpace(raw))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, apierr.Invalid("%s must be a whole number from 0 to %d, not %s", what, max, truncate(s, 32))
	}
	return n, nil
}

// parsePartitions parses a non-empty array of distinct partition numbers.
func parsePartitions(raw json.RawMessage) ([]int32, *apierr.Error) {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || len(items) == 0 {
		return nil, apierr.Invalid("\"partitions\" must be a non-empty array of partition numbers; leave it out for every partition")
	}
	out := make([]int32, 0, len(items))
	for _, it := range items {
		p, err := nonNegative(it, "each of \"partitions\"", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, int32(p)) {
			return nil, apierr.Invalid("\"partitions\" names partition %d twice", p)
		}
		out = append(out, int32(p))
	}
	return out, nil
}

// truncate shortens client input quoted in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// opName is the "op" of an error frame that answers a client frame of
// kind k: the frame's type, or "unknown" for a frame whose type the server
// did not understand.
func opName(k frameKind) string {
	if k == kindInvalid {
		return string(kindUnknown)
	}
	return string(k)
}

// errorFrame encodes {"type":"error","id"?,"op"?,"code","message",...Extra}.
// op is opName of the client frame the error answers; "" for an error
// that answers none (a subscription that ended, lost events, no auth in
// time), which then has no "op".
func errorFrame(id, op string, e *apierr.Error) []byte {
	b := []byte(`{"type":"error"`)
	if id != "" {
		b = append(b, `,"id":`...)
		b = eventjson.AppendString(b, id)
	}
	if op != "" {
		b = append(b, `,"op":`...)
		b = eventjson.AppendString(b, op)
	}
	b = append(b, `,"code":`...)
	b = eventjson.AppendString(b, e.Code)
	b = append(b, `,"message":`...)
	b = eventjson.AppendString(b, e.Message)
	keys := make([]string, 0, len(e.Extra))
	for k := range e.Extra {
		if k != "type" && k != "id" && k != "op" && k != "code" && k != "message" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := json.Marshal(e.Extra[k])
		if err != nil {
			continue
		}
		b = append(b, ',')
		b = eventjson.AppendString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

// authenticatedFrame encodes {"type":"authenticated","exp":unix seconds},
// the answer to an accepted auth frame: the socket now lives until exp.
func authenticatedFrame(exp time.Time) []byte {
	b := []byte(`{"type":"authenticated","exp":`)
	b = strconv.AppendInt(b, exp.Unix(), 10)
	return append(b, '}')
}

// subscribedFrame encodes {"type":"subscribed","id","topic","topic_id",
// "partitions":[...],"offsets":{"<partition>":start}}. "offsets" goes
// beyond the API's minimum: where each partition starts, so that a client
// can save a complete position at once and pass it back as
// {"from": {"offsets": ...}}.
func subscribedFrame(sub *subscription) []byte {
	b := []byte(`{"type":"subscribed","id":`)
	b = eventjson.AppendString(b, sub.id)
	b = append(b, `,"topic":`...)
	b = eventjson.AppendString(b, sub.topic)
	b = append(b, `,"topic_id":`...)
	b = eventjson.AppendString(b, sub.topicID)
	b = append(b, `,"partitions":[`...)
	for i, ps := range sub.parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(ps.partition), 10)
	}
	b = append(b, `],"offsets":{`...)
	for i, ps := range sub.parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(ps.partition), 10)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, ps.start, 10)
	}
	return append(b, "}}"...)
}

// writeError answers an HTTP request with the REST API's error body.
func writeError(w http.ResponseWriter, e *apierr.Error) {
	m := map[string]any{}
	for k, v := range e.Extra {
		m[k] = v
	}
	m["code"] = e.Code
	m["message"] = e.Message
	body, err := json.Marshal(map[string]any{"error": m})
	if err != nil {
		body, _ = json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	w.Write(append(body, '\n'))
}
