package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/eventjson"

	"github.com/runnel-dev/runnel/internal/plural"
)

// maxIdempotencyKeyLen is openapi.yaml's bound on Idempotency-Key.
const maxIdempotencyKeyLen = 255

// produce is POST /v1/topics/{topic}/events, the hot path: no reflection,
// no copy of the body, pooled event slices and response buffers.
func (s *Server) produce(c *fiber.Ctx, p *auth.Principal) error {
	topic := c.Params("topic")
	if !p.CanProduce(topic) {
		return forbidden("token may not produce to topic %q", topic)
	}
	if err := validateTopicName(topic); err != nil {
		return err
	}
	mt, err := requestMediaType(c, true)
	if err != nil {
		return err
	}
	acks, err := parseAcks(c)
	if err != nil {
		return err
	}
	idem, err := idempotencyKey(c, p)
	if err != nil {
		return err
	}

	// The body is read only now, after every check the head allows. Its
	// buffer is this request's own (body.go), so the decoded events may
	// alias it even where the Backend keeps them past the handler (an
	// acks=0 write in flight).
	owned, err := s.body(c)
	if err != nil {
		return err
	}

	evp := s.getEvents()
	defer s.putEvents(evp)
	if mt == mediaNDJSON {
		*evp, err = eventjson.DecodeNDJSON(owned, *evp, s.limits.MaxEventsPerRequest)
	} else {
		*evp, err = eventjson.Decode(owned, *evp, s.limits.MaxEventsPerRequest)
	}
	if err != nil {
		return s.decodeError(err)
	}

	results, err := s.be.Produce(context.Background(), strings.Clone(topic), acks, *evp, idem)
	if err != nil {
		return err
	}
	if len(results) != len(*evp) {
		return fmt.Errorf("backend returned %d results for %d events", len(results), len(*evp))
	}
	s.metrics.eventsIn.Add(float64(len(results)))

	status := http.StatusOK
	if acks == backend.AcksNone {
		status = http.StatusAccepted
	}
	bp := s.getBuf()
	b := append((*bp)[:0], `{"results":[`...)
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"partition":`...)
		b = strconv.AppendInt(b, int64(r.Partition), 10)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, r.Offset, 10)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, r.Timestamp, 10)
		b = append(b, '}')
	}
	*bp = append(b, "]}"...)
	s.sendBuf(c, status, bp)
	return nil
}

// parseAcks reads ?acks=0|1|all, default all.
func parseAcks(c *fiber.Ctx) (backend.Acks, error) {
	args := c.Request().URI().QueryArgs()
	if !args.Has("acks") {
		return backend.AcksAll, nil
	}
	switch v := args.Peek("acks"); string(v) {
	case "all":
		return backend.AcksAll, nil
	case "1":
		return backend.AcksLeader, nil
	case "0":
		return backend.AcksNone, nil
	default:
		return 0, apierr.Invalid("acks: must be 0, 1 or all, got %q", v)
	}
}

// idempotencyKey reads the Idempotency-Key header and scopes it by the
// token's subject, so that clients cannot collide with or read each
// other's answers; "" without the header.
func idempotencyKey(c *fiber.Ctx, p *auth.Principal) (string, error) {
	vs := c.Request().Header.PeekAll("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	if len(vs) > 1 {
		return "", apierr.Invalid("Idempotency-Key: send it once, not %d times", len(vs))
	}
	k := vs[0]
	if len(k) == 0 || len(k) > maxIdempotencyKeyLen {
		return "", apierr.Invalid("Idempotency-Key: must be 1 to %d characters, got %d", maxIdempotencyKeyLen, len(k))
	}
	for _, ch := range k {
		if ch < 0x20 || ch > 0x7e {
			return "", apierr.Invalid("Idempotency-Key: must be printable ASCII; it holds byte 0x%02x", ch)
		}
	}
	return p.Subject + "\x00" + string(k), nil
}

// decodeError maps an eventjson error to the API's.
func (s *Server) decodeError(err error) error {
	if errors.Is(err, eventjson.ErrTooManyEvents) {
		return apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge,
			"the request has more than %s; send at most %d per request", plural.Noun(s.limits.MaxEventsPerRequest, "event"), s.limits.MaxEventsPerRequest)
	}
	var de *eventjson.DecodeError
	if !errors.As(err, &de) {
		return err
	}
	e := &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidRequest, Message: "body: " + de.Error(),
		Extra: map[string]any{"line": de.Line, "column": de.Column, "offset": de.Offset}}
	if de.Syntax {
		e.Code = apierr.CodeInvalidJSON
	}
	if de.Event >= 0 {
		e.Extra["event"] = de.Event
	}
	return e
}
