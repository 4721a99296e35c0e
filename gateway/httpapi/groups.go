package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// Consumer groups (API.md "Consumer groups"): the groups Kafka clients
// join, read and changed through the cluster's coordinators; nothing about
// a group lives in the gateway.
//
// Permissions: listing groups, resetting offsets ("to") and deleting a
// group need admin; describing a group needs admin or consume on every
// topic the group has offsets or assignments for; committing an explicit
// offset needs consume on its topic (a stateless HTTP consumer commits what
// it read).

// maxGroupNameLen bounds group ids, as topic names are bounded.
const maxGroupNameLen = 249

// groupParam is the {group} path parameter, checked.
func groupParam(c *fiber.Ctx) (string, error) {
	name := c.Params("group")
	if err := validateGroupName(name); err != nil {
		return "", err
	}
	return strings.Clone(name), nil
}

// validateGroupName checks a group id: 1–249 letters, digits, '.', '_',
// '-' and ':'.
func validateGroupName(name string) error {
	if name == "" || len(name) > maxGroupNameLen {
		return apierr.Invalid("group: must be 1 to %d characters, got %d", maxGroupNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '.' || ch == '_' || ch == '-' || ch == ':') {
			return apierr.Invalid("group %q has %q; group ids served here use letters, digits, '.', '_', '-' and ':'", name, rune(ch))
		}
	}
	return nil
}

func needAdmin(p *auth.Principal, what string) error {
	if !p.IsAdmin() {
		return forbidden("token is not an admin token; %s needs the admin permission", what)
	}
	return nil
}

// groupSummaryJSON is openapi.yaml's GroupSummary.
type groupSummaryJSON struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

// listGroups is GET /v1/groups.
func (s *Server) listGroups(c *fiber.Ctx, p *auth.Principal) error {
	if err := needAdmin(p, "listing groups"); err != nil {
		return err
	}
	gs, err := s.be.ListGroups(context.Background())
	if err != nil {
		return err
	}
	out := struct {
		Groups []groupSummaryJSON `json:"groups"`
	}{Groups: make([]groupSummaryJSON, 0, len(gs))}
	for _, g := range gs {
		out.Groups = append(out.Groups, groupSummaryJSON{Name: g.Name, Type: g.Type, State: g.State, ProtocolType: g.ProtocolType})
	}
	return sendJSON(c, http.StatusOK, out)
}

// groupJSON is openapi.yaml's Group.
type groupJSON struct {
	Name         string            `json:"name"`
	Type         string            `json:"type"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Members      []memberJSON      `json:"members"`
	Offsets      []groupOffsetJSON `json:"offsets"`
	TotalLag     int64             `json:"total_lag"`
}

type memberJSON struct {
	MemberID   string           `json:"member_id"`
	InstanceID *string          `json:"instance_id"`
	ClientID   string           `json:"client_id"`
	ClientHost string           `json:"client_host"`
	Assignment []assignmentJSON `json:"assignment"`
}

type assignmentJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type groupOffsetJSON struct {
	Topic           string  `json:"topic"`
	Partition       int32   `json:"partition"`
	CommittedOffset *int64  `json:"committed_offset"`
	LogStartOffset  int64   `json:"log_start_offset"`
	LogEndOffset    int64   `json:"log_end_offset"`
	Lag             int64   `json:"lag"`
	MemberID        *string `json:"member_id"`
	CommitTimestamp *int64  `json:"commit_timestamp"`
	CommitAgeMS     *int64  `json:"commit_age_ms"`
}

// describeGroup is GET /v1/groups/{group}.
func (s *Server) describeGroup(c *fiber.Ctx, p *auth.Principal) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	g, err := s.be.DescribeGroup(context.Background(), name)
	if err != nil {
		return err
	}
	out := groupJSON{Name: g.Name, Type: g.Type, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol,
		Members: make([]memberJSON, 0, len(g.Members)), Offsets: make([]groupOffsetJSON, 0, len(g.Partitions))}
	now := time.Now().UnixMilli()
	var topics []string
	for _, m := range g.Members {
		mj := memberJSON{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: []assignmentJSON{}}
		if m.InstanceID != "" {
			mj.InstanceID = &m.InstanceID
		}
		for t, ps := range m.Assignment {
			mj.Assignment = append(mj.Assignment, assignmentJSON{Topic: t, Partitions: ps})
			topics = append(topics, t)
		}
		sort.Slice(mj.Assignment, func(i, j int) bool { return mj.Assignment[i].Topic < mj.Assignment[j].Topic })
		out.Members = append(out.Members, mj)
	}
	for _, gp := range g.Partitions {
		o := groupOffsetJSON{Topic: gp.Topic, Partition: gp.Partition, LogStartOffset: gp.LogStart, LogEndOffset: gp.LogEnd, Lag: gp.Lag}
		if gp.Committed >= 0 {
			o.CommittedOffset = &gp.Committed
		}
		if gp.MemberID != "" {
			o.MemberID = &gp.MemberID
		}
		if gp.CommitTime >= 0 {
			age := max(now-gp.CommitTime, 0)
			o.CommitTimestamp, o.CommitAgeMS = &gp.CommitTime, &age
		}
		if gp.Lag > 0 {
			out.TotalLag += gp.Lag
		}
		topics = append(topics, gp.Topic)
		out.Offsets = append(out.Offsets, o)
	}
	if !p.IsAdmin() {
		for _, t := range topics {
			if !p.CanConsume(t) {
				return forbidden("token may not consume from topic %q, which group %q reads; describing it needs consume on all its topics or admin", t, name)
			}
		}
	}
	return sendJSON(c, http.StatusOK, out)
}

// committedJSON is one entry of openapi.yaml's GroupOffsetsResult.
type committedJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// commitGroupOffsets is POST /v1/groups/{group}/offsets: a body of
// {"topic", "partition", "offset"} commits one offset; {"topic",
// "partition"?, "to"} resets the topic's partitions (or the one given).
func (s *Server) commitGroupOffsets(c *fiber.Ctx, p *auth.Principal) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	m, err := s.jsonObject(c, "topic", "partition", "offset", "to")
	if err != nil {
		return err
	}
	topic, ok, err := stringField(m, "topic")
	if err != nil {
		return err
	}
	if !ok {
		return apierr.Invalid("body: \"topic\" is required")
	}
	if err := validateTopicName(topic); err != nil {
		return err
	}
	var partition *int32
	if n, ok, err := intField(m, "partition", 0, math.MaxInt32); err != nil {
		return err
	} else if ok {
		pn := int32(n)
		partition = &pn
	}
	offset, hasOffset, err := intField(m, "offset", 0, math.MaxInt64)
	if err != nil {
		return err
	}
	raw, hasTo := m["to"]
	var results []backend.CommittedOffset
	switch {
	case hasOffset && hasTo:
		return apierr.Invalid("body: give either \"offset\" (a commit) or \"to\" (a reset), not both")
	case hasOffset:
		if partition == nil {
			return apierr.Invalid("body: \"partition\" is required with \"offset\"")
		}
		if !p.CanConsume(topic) {
			return forbidden("token may not consume from topic %q; committing its offsets needs consume or admin", topic)
		}
		r, err := s.be.CommitGroupOffset(context.Background(), name, topic, *partition, offset)
		if err != nil {
			return err
		}
		results = []backend.CommittedOffset{r}
	case hasTo:
		if err := needAdmin(p, "resetting a group's offsets"); err != nil {
			return err
		}
		to, err := decodeResetTo(raw)
		if err != nil {
			return err
		}
		if results, err = s.be.ResetGroupOffsets(context.Background(), name, topic, partition, to); err != nil {
			return err
		}
	default:
		return apierr.Invalid("body: give \"offset\" (with \"partition\") to commit, or \"to\" to reset")
	}
	out := struct {
		Offsets []committedJSON `json:"offsets"`
	}{Offsets: make([]committedJSON, 0, len(results))}
	for _, r := range results {
		out.Offsets = append(out.Offsets, committedJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	}
	return sendJSON(c, http.StatusOK, out)
}

// decodeResetTo reads "to": "earliest", "latest" or {"time": ms}.
func decodeResetTo(raw json.RawMessage) (backend.ResetTo, error) {
	const want = `body: "to" must be "earliest", "latest" or {"time": <ms since the Unix epoch>}`
	var word string
	if json.Unmarshal(raw, &word) == nil {
		switch word {
		case "earliest":
			return backend.ResetTo{Earliest: true}, nil
		case "latest":
			return backend.ResetTo{Latest: true}, nil
		}
		return backend.ResetTo{}, apierr.Invalid("%s, got %s", want, raw)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return backend.ResetTo{}, apierr.Invalid("%s, got %s", want, raw)
	}
	m, err := decodeObject(raw, "time")
	if err != nil {
		return backend.ResetTo{}, apierr.Invalid("%s, got %s", want, raw)
	}
	ms, ok, err := intField(m, "time", 0, math.MaxInt64)
	if err != nil || !ok {
		return backend.ResetTo{}, apierr.Invalid("%s, got %s", want, raw)
	}
	return backend.ResetTo{Time: &ms}, nil
}

// deleteGroup is DELETE /v1/groups/{group}.
func (s *Server) deleteGroup(c *fiber.Ctx, p *auth.Principal) error {
	if err := needAdmin(p, "deleting a group"); err != nil {
		return err
	}
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	if err := s.be.DeleteGroup(context.Background(), name); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
