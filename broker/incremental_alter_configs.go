package broker

import (
	"context"
	"strconv"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.IncrementalAlterConfigs, 0, 1, (*Broker).handleIncrementalAlterConfigs)
}

// handleIncrementalAlterConfigs sets and deletes topic configs through the
// controller; each resource succeeds or fails as a whole. SET needs a key the
// controller accepts and a valid value; DELETE returns a key to its default.
// APPEND and SUBTRACT are refused: no topic config Runnel lets one change is
// a list. Broker configs are read-only. With validate_only the changes are
// checked and not made. Brokers apply a changed config to their open logs
// when the new metadata image reaches them.
func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()

	type resourceKey struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[resourceKey]int, len(req.Resources))
	for _, res := range req.Resources {
		count[resourceKey{res.ResourceType, res.ResourceName}]++
	}
	img := b.member.Image()
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var err error
		if n := count[resourceKey{res.ResourceType, res.ResourceName}]; n > 1 {
			err = refuse(kerr.InvalidRequest, "resource %s %q is listed %d times in the request", res.ResourceType, res.ResourceName, n)
		} else {
			err = b.alterResource(ctx, img, res, req.ValidateOnly)
		}
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
			if rr.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("alter configs", "resource", res.ResourceName, "error", err)
			}
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// alterResource checks and, unless validateOnly, applies the changes to one
// resource.
func (b *Broker) alterResource(ctx context.Context, img *metadata.Image, res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(b.cfg.BrokerID)) {
			return refuse(kerr.InvalidRequest, "broker %q: this is broker %d", res.ResourceName, b.cfg.BrokerID)
		}
		return refuse(kerr.InvalidRequest, "broker configs are read-only: set them in the broker's configuration and restart it")
	default:
		return refuse(kerr.InvalidRequest, "configs of resource type %s (%d) are not supported; use TOPIC (2)", res.ResourceType, int8(res.ResourceType))
	}
	if err := metadata.ValidateTopicName(res.ResourceName); err != nil {
		return refuse(kerr.InvalidTopicException, "invalid topic name %q", res.ResourceName)
	}
	if _, ok := img.Topic(res.ResourceName); !ok {
		return refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", res.ResourceName)
	}
	change := controller.AlterConfigsRequest{Name: res.ResourceName}
	seen := make(map[string]bool, len(res.Configs))
	for _, c := range res.Configs {
		if seen[c.Name] {
			return refuse(kerr.InvalidRequest, "config %q is changed more than once in one resource", c.Name)
		}
		seen[c.Name] = true
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if err := checkTopicConfig(c.Name, c.Value); err != nil {
				return err
			}
			if change.Set == nil {
				change.Set = map[string]string{}
			}
			change.Set[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			if _, ok := topicConfigDefaults[c.Name]; !ok && !metadata.KnownConfig(c.Name) {
				return refuse(kerr.InvalidConfig, "unknown topic config %q", c.Name)
			}
			change.Delete = append(change.Delete, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			return refuse(kerr.InvalidConfig, "%s on %q: no list-valued configs can be changed here; use SET with the whole value", c.Op, c.Name)
		default:
			return refuse(kerr.InvalidRequest, "unknown config operation %d on %q", int8(c.Op), c.Name)
		}
	}
	if validateOnly || (len(change.Set) == 0 && len(change.Delete) == 0) {
		return nil
	}
	return b.member.AlterConfigs(ctx, change)
}
