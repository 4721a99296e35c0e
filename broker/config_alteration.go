package broker

import (
	"context"
	"strconv"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configAlteration is one resource of an AlterConfigs or
// IncrementalAlterConfigs request. Both go through alterConfigResources, so
// they check resources, keys and values alike and differ only in how the
// change is built from the request (change).
type configAlteration struct {
	typ     kmsg.ConfigResourceType
	name    string
	configs int // config entries in the request
	// change builds the controller request for topic t, or refuses.
	change func(t *metadata.Topic) (controller.AlterConfigsRequest, error)
}

// alterConfigResources checks and, unless validateOnly, applies each
// alteration through the controller; each resource succeeds or fails as a
// whole, and the result holds one error (nil: done) per alteration. A
// resource listed twice is refused. Broker configs are read-only; topics'
// configs change with the controller's checks. Brokers apply a changed
// config to their open logs when the new metadata image reaches them.
func (b *Broker) alterConfigResources(ctx context.Context, alts []configAlteration, validateOnly bool) []error {
	type resourceKey struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[resourceKey]int, len(alts))
	for _, a := range alts {
		count[resourceKey{a.typ, a.name}]++
	}
	img := b.member.Image()
	errs := make([]error, len(alts))
	for i, a := range alts {
		if n := count[resourceKey{a.typ, a.name}]; n > 1 {
			errs[i] = refuse(kerr.InvalidRequest, "resource %s %q is listed %d times in the request", a.typ, a.name, n)
		} else {
			errs[i] = b.alterConfigResource(ctx, img, a, validateOnly)
		}
		if errorCode(errs[i]) == kerr.UnknownServerError.Code {
			b.log.Error("alter configs", "resource", a.name, "error", errs[i])
		}
	}
	return errs
}

// alterConfigResource checks and, unless validateOnly, applies one
// alteration.
func (b *Broker) alterConfigResource(ctx context.Context, img *metadata.Image, a configAlteration, validateOnly bool) error {
	switch a.typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		if a.name != "" && a.name != strconv.Itoa(int(b.cfg.BrokerID)) {
			return refuse(kerr.InvalidRequest, "broker %q: this is broker %d", a.name, b.cfg.BrokerID)
		}
		if a.configs == 0 {
			return nil // no dynamic broker configs to change or reset, as Kafka answers
		}
		return refuse(kerr.InvalidRequest, "broker configs are read-only: set them in the broker's configuration and restart it")
	default:
		return refuse(kerr.InvalidRequest, "configs of resource type %s (%d) are not supported; use TOPIC (2)", a.typ, int8(a.typ))
	}
	if err := metadata.ValidateTopicName(a.name); err != nil {
		return refuse(kerr.InvalidTopicException, "invalid topic name %q", a.name)
	}
	t, ok := img.Topic(a.name)
	if !ok {
		return refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", a.name)
	}
	change, err := a.change(t)
	if err != nil {
		return err
	}
	if err := b.checkTierConfig(alteredConfig(t.Config, change), t.Config); err != nil {
		return err
	}
	if validateOnly || (len(change.Set) == 0 && len(change.Delete) == 0) {
		return nil
	}
	return b.member.AlterConfigs(ctx, change)
}

// configChanges collects one resource's changes, checking each key once.
type configChanges struct {
	req  controller.AlterConfigsRequest
	seen map[string]bool
}

func newConfigChanges(topic string) *configChanges {
	return &configChanges{req: controller.AlterConfigsRequest{Name: topic}, seen: map[string]bool{}}
}

// once refuses a key the resource names twice.
func (c *configChanges) once(key string) error {
	if c.seen[key] {
		return refuse(kerr.InvalidRequest, "config %q is changed more than once in one resource", key)
	}
	c.seen[key] = true
	return nil
}

// set checks and adds a SET of key to value.
func (c *configChanges) set(key string, value *string) error {
	if err := c.once(key); err != nil {
		return err
	}
	if err := checkTopicConfig(key, value); err != nil {
		return err
	}
	if c.req.Set == nil {
		c.req.Set = map[string]string{}
	}
	c.req.Set[key] = *value
	return nil
}

// remove checks and adds a return of key to its default.
func (c *configChanges) remove(key string) error {
	if err := c.once(key); err != nil {
		return err
	}
	if _, ok := topicConfigDefaults[key]; !ok && !metadata.KnownConfig(key) {
		return refuse(kerr.InvalidConfig, "unknown topic config %q", key)
	}
	c.req.Delete = append(c.req.Delete, key)
	return nil
}
