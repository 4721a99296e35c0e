package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/plural"
)

func init() { register(kmsg.CreateTopics, 2, 7, (*Broker).handleCreateTopics) }

const (
	// maxTopicPartitions caps the partition count of one topic. Larger
	// requests are refused with INVALID_PARTITIONS before anything is placed.
	maxTopicPartitions = metadata.MaxPartitions
	// defaultAdminTimeout bounds an admin request that carries no timeout of
	// its own (or a non-positive one).
	defaultAdminTimeout = 30 * time.Second
)

// requestError is a refusal of one item of a request: a Kafka error code and
// a message for the client's ErrorMessage.
type requestError struct {
	code *kerr.Error
	msg  string
}

func (e *requestError) Error() string { return e.msg }

// Unwrap returns the Kafka error, which errorCode finds with errors.As.
func (e *requestError) Unwrap() error { return e.code }

// refuse returns a requestError with a formatted message.
func refuse(code *kerr.Error, format string, args ...any) error {
	return &requestError{code: code, msg: fmt.Sprintf(format, args...)}
}

// adminContext bounds an admin request by its timeout_ms; zero or negative
// means defaultAdminTimeout. Runnel applies metadata changes synchronously,
// so even a zero timeout gets a useful deadline instead of failing at once.
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	d := time.Duration(timeoutMillis) * time.Millisecond
	if d <= 0 {
		d = defaultAdminTimeout
	}
	return context.WithTimeout(ctx, d)
}

// liveBrokers counts the registered, unfenced brokers: the ones new replicas
// can be placed on.
func liveBrokers(img *metadata.Image) int {
	n := 0
	for _, br := range img.Brokers() {
		if !br.Fenced {
			n++
		}
	}
	return n
}

// settableTopicConfigs lists the topic config keys admin requests may set.
func settableTopicConfigs() []string {
	var keys []string
	for k := range topicConfigDefaults {
		if metadata.KnownConfig(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// checkTopicConfig checks one topic config entry of an admin request: a key
// the controller accepts and a non-null value of the right form.
func checkTopicConfig(key string, value *string) error {
	if !metadata.KnownConfig(key) {
		if def, ok := topicConfigDefaults[key]; ok {
			return refuse(kerr.InvalidConfig, "topic config %q cannot be changed here (it stays at %s); settable configs: %s",
				key, def, strings.Join(settableTopicConfigs(), ", "))
		}
		return refuse(kerr.InvalidConfig, "unknown topic config %q; settable configs: %s", key, strings.Join(settableTopicConfigs(), ", "))
	}
	if value == nil {
		return refuse(kerr.InvalidConfig, "topic config %q has a null value", key)
	}
	if err := metadata.ValidateConfigValue(key, *value); err != nil {
		return refuse(kerr.InvalidConfig, "%s", strings.TrimPrefix(err.Error(), "metadata: "))
	}
	return nil
}

// handleCreateTopics creates topics through the controller, each on its own:
// one topic's refusal does not stop the others. Partitions -1 means the
// broker default (num.partitions) and replication factor -1 means 1. Every
// input is checked here before the controller sees it, so validate_only gives
// the same answer a real creation would, and nothing absurd (a billion
// partitions) is ever attempted. The replication factor may be up to the
// live (unfenced) brokers. From v5 the answer carries the partition
// count, replication factor and every config of the topic with its source.
func (b *Broker) handleCreateTopics(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(ctx, req.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(req.Topics))
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	answered := make(map[string]bool, len(req.Topics))
	check := newTopicCheck(b.member.Image())
	for i := range req.Topics {
		t := &req.Topics[i]
		if answered[t.Topic] {
			continue // a duplicated name is answered once
		}
		answered[t.Topic] = true
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1

		var spec controller.CreateTopicRequest
		err := error(nil)
		if count[t.Topic] > 1 {
			err = refuse(kerr.InvalidRequest, "topic %q is listed %d times in the request", t.Topic, count[t.Topic])
		} else {
			spec, err = b.checkCreateTopic(check, t)
		}
		var created *metadata.Topic
		if err == nil && !req.ValidateOnly {
			created, err = b.member.CreateTopic(ctx, spec)
		}
		if err != nil {
			rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
			if rt.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("create topic", "topic", t.Topic, "error", err)
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		cfg := spec.Config
		rt.NumPartitions, rt.ReplicationFactor = spec.Partitions, spec.ReplicationFactor
		if created != nil {
			cfg = created.Config
			rt.TopicID = created.ID
			rt.NumPartitions, rt.ReplicationFactor = int32(len(created.Partitions)), int16(created.ReplicationFactor())
			b.log.Info("created topic", "topic", created.Name, "id", created.ID, "partitions", rt.NumPartitions)
			check.created(created.Name)
		}
		if req.Version >= 5 {
			for _, e := range topicConfigEntries(cfg, b.topicDefaults()) {
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name, rc.Value, rc.Source = e.name, e.value, int8(e.source)
				rt.Configs = append(rt.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// topicCheck is what the topics of one CreateTopics request are checked
// against: the metadata image when the request came, and the topics the
// request created since.
type topicCheck struct {
	img        *metadata.Image
	live       int
	ours       map[string]bool   // created by this request
	normalized map[string]string // name with '.' as '_' → existing name, built on first use
}

func newTopicCheck(img *metadata.Image) *topicCheck {
	return &topicCheck{img: img, live: liveBrokers(img), ours: map[string]bool{}}
}

// exists reports whether a topic of that name exists.
func (c *topicCheck) exists(name string) bool {
	_, ok := c.img.Topic(name)
	return ok || c.ours[name]
}

// created records a topic this request created.
func (c *topicCheck) created(name string) {
	c.ours[name] = true
	if c.normalized != nil {
		c.normalized[strings.ReplaceAll(name, ".", "_")] = name
	}
}

// collision returns an existing topic whose name differs from name only in
// '.' versus '_', which Kafka refuses because metric names would clash.
func (c *topicCheck) collision(name string) (string, bool) {
	if !strings.ContainsAny(name, "._") {
		return "", false
	}
	if c.normalized == nil {
		c.normalized = map[string]string{}
		for _, t := range c.img.Topics() {
			c.normalized[strings.ReplaceAll(t.Name, ".", "_")] = t.Name
		}
		for n := range c.ours {
			c.normalized[strings.ReplaceAll(n, ".", "_")] = n
		}
	}
	other, ok := c.normalized[strings.ReplaceAll(name, ".", "_")]
	return other, ok && other != name
}

// checkCreateTopic validates one topic of a CreateTopics request and returns
// what to ask the controller for.
func (b *Broker) checkCreateTopic(c *topicCheck, t *kmsg.CreateTopicsRequestTopic) (controller.CreateTopicRequest, error) {
	spec := controller.CreateTopicRequest{Name: t.Topic, Partitions: t.NumPartitions, ReplicationFactor: t.ReplicationFactor}
	if err := metadata.ValidateTopicName(t.Topic); err != nil {
		return spec, refuse(kerr.InvalidTopicException, "invalid topic name: %s", strings.TrimPrefix(err.Error(), "metadata: invalid topic name: "))
	}
	if c.exists(t.Topic) {
		return spec, refuse(kerr.TopicAlreadyExists, "topic %q already exists", t.Topic)
	}
	if other, ok := c.collision(t.Topic); ok {
		return spec, refuse(kerr.InvalidTopicException, "topic %q collides with the existing topic %q: '.' and '_' are the same in metric names", t.Topic, other)
	}
	if err := checkClientTopicName(t.Topic); err != nil {
		return spec, err
	}
	if len(t.ReplicaAssignment) > 0 {
		return spec, refuse(kerr.InvalidRequest, "manual replica assignment is not supported: leave the assignment empty and give the partition count and replication factor (or -1 for the defaults)")
	}
	switch {
	case spec.Partitions == -1:
		spec.Partitions = b.cfg.DefaultPartitions
	case spec.Partitions < 1:
		return spec, refuse(kerr.InvalidPartitions, "%d partitions: want at least 1, or -1 for the broker default (%d)", spec.Partitions, b.cfg.DefaultPartitions)
	case spec.Partitions > maxTopicPartitions:
		return spec, refuse(kerr.InvalidPartitions, "%d partitions: a topic may have at most %d", spec.Partitions, maxTopicPartitions)
	}
	switch live := c.live; {
	case spec.ReplicationFactor == -1:
		spec.ReplicationFactor = 1
	case spec.ReplicationFactor < 1:
		return spec, refuse(kerr.InvalidReplicationFactor, "replication factor %d: want at least 1, or -1 for the default (1)", spec.ReplicationFactor)
	case int(spec.ReplicationFactor) > live:
		return spec, refuse(kerr.InvalidReplicationFactor, "replication factor %d is larger than the %s", spec.ReplicationFactor, plural.Noun(live, "available broker"))
	}
	if len(t.Configs) > 0 {
		spec.Config = make(map[string]string, len(t.Configs))
	}
	for _, kv := range t.Configs {
		if _, dup := spec.Config[kv.Name]; dup {
			return spec, refuse(kerr.InvalidRequest, "topic config %q is given more than once", kv.Name)
		}
		if err := checkTopicConfig(kv.Name, kv.Value); err != nil {
			return spec, err
		}
		spec.Config[kv.Name] = *kv.Value
	}
	if err := b.checkTierConfig(spec.Config, nil); err != nil {
		return spec, err
	}
	return spec, nil
}

// checkClientTopicName refuses, for a topic a client asks for (CreateTopics,
// auto-creation), the names Kafka reserves for internal topics, with Kafka's
// INVALID_REQUEST, and names that would collide with them in metric names
// ('.' and '_' alike). Only the broker creates internal topics
// (createInternalTopic), with the layout its coordinators rely on.
func checkClientTopicName(name string) error {
	if metadata.InternalTopic(name) {
		return refuse(kerr.InvalidRequest, "creation of internal topic %s is prohibited: the name is reserved for the broker's own use", name)
	}
	if n := strings.ReplaceAll(name, ".", "_"); metadata.InternalTopic(n) {
		return refuse(kerr.InvalidTopicException, "topic %q collides with the internal topic %q: '.' and '_' are the same in metric names", name, n)
	}
	return nil
}

// createInternalTopic creates one of the topics Kafka reserves for the
// broker's own use (metadata.InternalTopic), which clients cannot create:
// the path a coordinator takes to create its topic (the group coordinator's
// __consumer_offsets) on first use. Config is checked by the controller; an
// existing topic is metadata.ErrTopicExists.
func (b *Broker) createInternalTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, config map[string]string) (*metadata.Topic, error) {
	if !metadata.InternalTopic(name) {
		return nil, fmt.Errorf("create internal topic %q: %w", name, metadata.ErrInvalidTopicName)
	}
	t, err := b.member.CreateTopic(ctx, controller.CreateTopicRequest{Name: name, Partitions: partitions, ReplicationFactor: replicationFactor, Config: config})
	if err != nil {
		return nil, fmt.Errorf("create internal topic %s: %w", name, err)
	}
	b.log.Info("created internal topic", "topic", name, "id", t.ID, "partitions", len(t.Partitions))
	return t, nil
}
