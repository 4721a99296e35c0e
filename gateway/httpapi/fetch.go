package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/eventjson"
)

// Fetch bounds.
const (
	defaultFetchLimit = 100
	// fetchMaxBytes bounds the bytes one fetch reads from the broker; a
	// single larger batch is still returned whole, as in Kafka.
	fetchMaxBytes = 4 << 20
	// fetchSlack is added to wait_ms for the whole call.
	fetchSlack = 30 * time.Second
)

// fetch is GET /v1/topics/{topic}/partitions/{partition}/events.
func (s *Server) fetch(c *fiber.Ctx, p *auth.Principal) error {
	topic := c.Params("topic")
	if !p.CanConsume(topic) {
		return forbidden("token may not consume from topic %q", topic)
	}
	if err := validateTopicName(topic); err != nil {
		return err
	}
	ps := c.Params("partition")
	partition, ok := parseUint(ps, math.MaxInt32)
	if !ok {
		return apierr.Invalid("partition: must be an integer from 0, got %q", ps)
	}
	offset, err := s.fetchOffset(c, topic, int32(partition))
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 1, int64(s.limits.MaxFetchLimit), defaultFetchLimit,
		"an integer from 1 to "+strconv.Itoa(s.limits.MaxFetchLimit))
	if err != nil {
		return err
	}
	maxWaitMS := int64(s.limits.MaxWait / time.Millisecond)
	waitMS, err := queryInt(c, "wait_ms", 0, maxWaitMS, 0, "an integer from 0 to "+strconv.FormatInt(maxWaitMS, 10))
	if err != nil {
		return err
	}
	wait := time.Duration(waitMS) * time.Millisecond

	ctx, cancel := context.WithTimeout(s.drain, wait+fetchSlack)
	defer cancel()
	res, err := s.be.Fetch(ctx, strings.Clone(topic), int32(partition), offset,
		backend.FetchOptions{Limit: int(limit), Wait: wait, MaxBytes: fetchMaxBytes})
	if err != nil {
		if s.drain.Err() != nil && errors.Is(err, context.Canceled) {
			return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeUnavailable,
				Message: "the gateway is shutting down; retry", RetryAfter: time.Second, Err: err}
		}
		return err
	}

	bp := s.getBuf()
	b := append((*bp)[:0], `{"events":[`...)
	for i := range res.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = eventjson.AppendRecord(b, &res.Records[i])
	}
	b = append(b, `],"next_offset":`...)
	b = strconv.AppendInt(b, res.NextOffset, 10)
	b = append(b, `,"high_watermark":`...)
	b = strconv.AppendInt(b, res.HighWatermark, 10)
	b = append(b, `,"log_start_offset":`...)
	b = strconv.AppendInt(b, res.LogStartOffset, 10)
	*bp = append(b, '}')
	s.sendBuf(c, http.StatusOK, bp)
	return nil
}
