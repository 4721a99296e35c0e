package httpapi

import (
	"context"
	"math"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// fetchOffset is where a fetch starts: the "offset" query parameter, or,
// with "group=g&from=committed", the group's committed offset on the
// partition, read from the group's coordinator at each request (nothing
// about an HTTP consumer lives in the gateway). A group that has committed
// nothing there starts at the partition's log start offset. Reading does
// not commit: the consumer commits with POST /v1/groups/{group}/offsets.
func (s *Server) fetchOffset(c *fiber.Ctx, topic string, partition int32) (int64, error) {
	args := c.Request().URI().QueryArgs()
	from := string(args.Peek("from"))
	hasFrom, hasGroup := args.Has("from"), args.Has("group")
	switch {
	case hasFrom && from != "committed":
		return 0, apierr.Invalid("from: the one value is \"committed\" (with group), got %q", from)
	case hasFrom != hasGroup:
		return 0, apierr.Invalid("group and from=committed go together: give both to read from the group's committed offset, or neither and an offset")
	case hasFrom && args.Has("offset"):
		return 0, apierr.Invalid("offset: give either offset or group with from=committed, not both")
	case hasFrom:
		return s.committedOffset(c, topic, partition)
	case !args.Has("offset"):
		return 0, apierr.Invalid("offset: required (or group and from=committed); give the first offset to read (GET /v1/topics/%s/offsets lists each partition's earliest and latest)", topic)
	}
	return queryInt(c, "offset", 0, math.MaxInt64, 0, "an integer from 0")
}

// committedOffset is the group's committed offset on the partition, or
// the partition's log start offset when the group has none.
func (s *Server) committedOffset(c *fiber.Ctx, topic string, partition int32) (int64, error) {
	group := string(c.Request().URI().QueryArgs().Peek("group"))
	if err := validateGroupName(group); err != nil {
		return 0, err
	}
	topic = strings.Clone(topic)
	off, ok, err := s.be.CommittedOffsetOf(context.Background(), group, topic, partition)
	if err != nil || ok {
		return off, err
	}
	bounds, err := s.be.Offsets(context.Background(), topic, nil)
	if err != nil {
		return 0, err
	}
	for _, po := range bounds {
		if po.Partition == partition {
			return po.Earliest, nil
		}
	}
	return 0, apierr.New(http.StatusNotFound, apierr.CodePartitionNotFound, "topic %q has no partition %d", topic, partition)
}
