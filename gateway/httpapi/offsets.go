package httpapi

import (
	"context"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// offsetsJSON is openapi.yaml's PartitionOffsets.
type offsetsJSON struct {
	Partition int32  `json:"partition"`
	Earliest  int64  `json:"earliest"`
	Latest    int64  `json:"latest"`
	Offset    *int64 `json:"offset,omitempty"`
}

// offsets is GET /v1/topics/{topic}/offsets[?timestamp=ms].
func (s *Server) offsets(c *fiber.Ctx, p *auth.Principal) error {
	topic := c.Params("topic")
	if !p.CanConsume(topic) {
		return forbidden("token may not consume from topic %q", topic)
	}
	if err := validateTopicName(topic); err != nil {
		return err
	}
	var ts *int64
	if c.Request().URI().QueryArgs().Has("timestamp") {
		n, err := queryInt(c, "timestamp", 0, math.MaxInt64, 0, "milliseconds since the Unix epoch, an integer from 0")
		if err != nil {
			return err
		}
		ts = &n
	}
	parts, err := s.be.Offsets(context.Background(), strings.Clone(topic), ts)
	if err != nil {
		return err
	}
	out := struct {
		Partitions []offsetsJSON `json:"partitions"`
	}{Partitions: make([]offsetsJSON, 0, len(parts))}
	for _, po := range parts {
		o := offsetsJSON{Partition: po.Partition, Earliest: po.Earliest, Latest: po.Latest}
		if ts != nil {
			off := int64(-1)
			if po.ForTimestamp != nil {
				off = *po.ForTimestamp
			}
			o.Offset = &off
		}
		out.Partitions = append(out.Partitions, o)
	}
	sort.Slice(out.Partitions, func(i, j int) bool { return out.Partitions[i].Partition < out.Partitions[j].Partition })
	return sendJSON(c, http.StatusOK, out)
}
