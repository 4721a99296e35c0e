package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/raftmeta/metadata"

	"github.com/runnel-dev/runnel/internal/plural"
)

// topicConfigRules are the config keys a topic may set (API.md, Kafka's
// names) and the form of their values (openapi.yaml's TopicConfig).
var topicConfigRules = map[string]*regexp.Regexp{
	"retention.ms":                   regexp.MustCompile(`^-?[0-9]{1,19}$`),
	"retention.bytes":                regexp.MustCompile(`^-?[0-9]{1,19}$`),
	"segment.bytes":                  regexp.MustCompile(`^[0-9]{1,19}$`),
	"segment.ms":                     regexp.MustCompile(`^[0-9]{1,19}$`),
	"min.insync.replicas":            regexp.MustCompile(`^[0-9]{1,10}$`),
	"max.message.bytes":              regexp.MustCompile(`^[0-9]{1,10}$`),
	"cleanup.policy":                 regexp.MustCompile(`^(delete|compact|compact,delete|delete,compact)$`),
	"unclean.leader.election.enable": regexp.MustCompile(`^(true|false)$`),
	"replica.lag.time.max.ms":        regexp.MustCompile(`^[0-9]{1,19}$`),
	"delete.retention.ms":            regexp.MustCompile(`^[0-9]{1,19}$`),
	"min.compaction.lag.ms":          regexp.MustCompile(`^[0-9]{1,19}$`),
	"min.cleanable.dirty.ratio":      regexp.MustCompile(`^(0(\.[0-9]{1,9})?|1(\.0{1,9})?)$`),
	"local.retention.ms":             regexp.MustCompile(`^-?[0-9]{1,19}$`),
	"local.retention.bytes":          regexp.MustCompile(`^-?[0-9]{1,19}$`),
	"remote.storage.enable":          regexp.MustCompile(`^(true|false)$`),
}

// configValueHelp describes each rule for error messages.
func configValueHelp(key string) string {
	switch key {
	case "cleanup.policy":
		return `"delete", "compact" or "compact,delete"`
	case "min.cleanable.dirty.ratio":
		return `a number from 0 to 1 in a string, such as "0.5"`
	case "unclean.leader.election.enable", "remote.storage.enable":
		return `"true" or "false"`
	case "retention.ms", "retention.bytes", "local.retention.ms", "local.retention.bytes":
		return "an integer in a string, such as \"604800000\" (negative values are Kafka's special ones)"
	}
	return "a non-negative integer in a string, such as \"1048576\""
}

func configKeys() string {
	keys := make([]string, 0, len(topicConfigRules))
	for k := range topicConfigRules {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// decodeConfig checks a config object; nullable allows null values (PATCH
// removes those keys).
func decodeConfig(raw json.RawMessage, nullable bool) (map[string]*string, error) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, apierr.Invalid("body: \"config\" must be an object of strings, such as {\"retention.ms\": \"86400000\"}")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]*string, len(m))
	for _, k := range keys {
		rule, ok := topicConfigRules[k]
		if !ok {
			return nil, apierr.Invalid("config: unknown key %q; the keys are %s", k, configKeys())
		}
		v := m[k]
		if string(v) == "null" {
			if !nullable {
				return nil, apierr.Invalid("config: %q is null; give a value or leave the key out", k)
			}
			out[k] = nil
			continue
		}
		var s string
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return nil, apierr.Invalid("config: %q must be a string (Kafka config values are strings), got %s", k, v)
		}
		if !rule.MatchString(s) {
			return nil, apierr.Invalid("config: %q is %q; want %s", k, s, configValueHelp(k))
		}
		out[k] = &s
	}
	return out, nil
}

func (s *Server) createTopic(c *fiber.Ctx, _ *auth.Principal) error {
	m, err := s.jsonObject(c, "name", "partitions", "replication_factor", "config")
	if err != nil {
		return err
	}
	name, ok, err := stringField(m, "name")
	if err != nil {
		return err
	}
	if !ok {
		return apierr.Invalid("body: \"name\" is required")
	}
	if err := validateTopicName(name); err != nil {
		return err
	}
	if metadata.InternalTopic(name) {
		return apierr.Invalid("topic name %q is reserved: Kafka keeps it for an internal topic, which only the broker creates", name)
	}
	spec := backend.TopicSpec{Name: name, Partitions: 1} // ReplicationFactor 0: the cluster default
	if n, ok, err := intField(m, "partitions", 1, math.MaxInt32); err != nil {
		return err
	} else if ok {
		spec.Partitions = int32(n)
	}
	if n, ok, err := intField(m, "replication_factor", 1, math.MaxInt16); err != nil {
		return err
	} else if ok {
		spec.ReplicationFactor = int16(n)
	}
	if raw, ok := m["config"]; ok {
		cfg, err := decodeConfig(raw, false)
		if err != nil {
			return err
		}
		spec.Config = make(map[string]string, len(cfg))
		for k, v := range cfg {
			spec.Config[k] = *v
		}
	}
	info, err := s.be.CreateTopic(context.Background(), spec)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, "/v1/topics/"+info.Name)
	return sendJSON(c, http.StatusCreated, topicOut(info))
}

func (s *Server) listTopics(c *fiber.Ctx, _ *auth.Principal) error {
	infos, err := s.be.ListTopics(context.Background())
	if err != nil {
		return err
	}
	out := struct {
		Topics []topicJSON `json:"topics"`
	}{Topics: make([]topicJSON, 0, len(infos))}
	for _, t := range infos {
		if strings.HasPrefix(t.Name, "__") { // internal topics
			continue
		}
		out.Topics = append(out.Topics, topicOut(t))
	}
	sort.Slice(out.Topics, func(i, j int) bool { return out.Topics[i].Name < out.Topics[j].Name })
	return sendJSON(c, http.StatusOK, out)
}

// topicParam is the validated {topic} of the path, copied out of the
// request's memory (the Backend may keep it).
func topicParam(c *fiber.Ctx) (string, error) {
	name := c.Params("topic")
	if err := validateTopicName(name); err != nil {
		return "", err
	}
	return strings.Clone(name), nil
}

func (s *Server) describeTopic(c *fiber.Ctx, _ *auth.Principal) error {
	name, err := topicParam(c)
	if err != nil {
		return err
	}
	info, err := s.be.DescribeTopic(context.Background(), name)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, topicOut(info))
}

func (s *Server) alterTopic(c *fiber.Ctx, _ *auth.Principal) error {
	name, err := topicParam(c)
	if err != nil {
		return err
	}
	m, err := s.jsonObject(c, "partitions", "config")
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return apierr.Invalid("body: nothing to change; give \"partitions\", \"config\" or both")
	}
	var change backend.TopicChange
	if n, ok, err := intField(m, "partitions", 1, math.MaxInt32); err != nil {
		return err
	} else if ok {
		p := int32(n)
		change.Partitions = &p
	}
	if raw, ok := m["config"]; ok {
		if change.Config, err = decodeConfig(raw, true); err != nil {
			return err
		}
	}
	ctx := context.Background()
	if change.Partitions != nil {
		// Kafka refuses both a decrease and the same count; the API
		// refuses only the decrease (409) and takes the same count as
		// no change.
		info, err := s.be.DescribeTopic(ctx, name)
		if err != nil {
			return err
		}
		have := int32(len(info.Partitions))
		switch want := *change.Partitions; {
		case want < have:
			return apierr.New(http.StatusConflict, apierr.CodeConflict,
				"topic %q has %s; the count can only grow, not become %d", name, plural.Noun(have, "partition"), want)
		case want == have:
			change.Partitions = nil
			if len(change.Config) == 0 {
				return sendJSON(c, http.StatusOK, topicOut(info))
			}
		}
	}
	info, err := s.be.AlterTopic(ctx, name, change)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, topicOut(info))
}

func (s *Server) deleteTopic(c *fiber.Ctx, _ *auth.Principal) error {
	name, err := topicParam(c)
	if err != nil {
		return err
	}
	if err := s.be.DeleteTopic(context.Background(), name); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// topicJSON is openapi.yaml's Topic.
type topicJSON struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions []partitionJSON   `json:"partitions"`
	Config     map[string]string `json:"config"`
}

// partitionJSON is openapi.yaml's Partition.
type partitionJSON struct {
	ID             int32   `json:"id"`
	Leader         int32   `json:"leader"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
}

func topicOut(t backend.TopicInfo) topicJSON {
	out := topicJSON{Name: t.Name, ID: t.ID, Partitions: make([]partitionJSON, 0, len(t.Partitions)), Config: t.Config}
	if out.Config == nil {
		out.Config = map[string]string{}
	}
	for _, p := range t.Partitions {
		pj := partitionJSON{ID: p.ID, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR,
			LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark}
		if pj.Replicas == nil {
			pj.Replicas = []int32{}
		}
		if pj.ISR == nil {
			pj.ISR = []int32{}
		}
		out.Partitions = append(out.Partitions, pj)
	}
	sort.Slice(out.Partitions, func(i, j int) bool { return out.Partitions[i].ID < out.Partitions[j].ID })
	return out
}

// sendJSON answers with v marshalled by encoding/json, for the paths that
// are not hot.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}
