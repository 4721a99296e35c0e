package broker

import (
	"context"
	"slices"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.AlterConfigs, 0, 2, (*Broker).handleAlterConfigs)
}

// handleAlterConfigs replaces topic configs (the legacy API that kafkajs,
// confluent-kafka-python and kafka-python alter configs with): as in Kafka,
// the request holds a resource's whole dynamic config, so every config it
// does not name returns to its default. Keys, values and resources are
// checked as IncrementalAlterConfigs checks them (alterConfigResources), a
// null value included; with validate_only nothing changes.
func (b *Broker) handleAlterConfigs(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	alts := make([]configAlteration, len(req.Resources))
	for i, res := range req.Resources {
		alts[i] = configAlteration{typ: res.ResourceType, name: res.ResourceName, configs: len(res.Configs),
			change: func(t *metadata.Topic) (controller.AlterConfigsRequest, error) { return replacementChange(res, t) }}
	}
	for i, err := range b.alterConfigResources(ctx, alts, req.ValidateOnly) {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// replacementChange builds the change that makes t's dynamic configs
// exactly those of res: each named one set, every other one deleted.
func replacementChange(res kmsg.AlterConfigsRequestResource, t *metadata.Topic) (controller.AlterConfigsRequest, error) {
	c := newConfigChanges(res.ResourceName)
	for _, rc := range res.Configs {
		if err := c.set(rc.Name, rc.Value); err != nil {
			return c.req, err
		}
	}
	for key := range t.Config {
		if !c.seen[key] {
			c.req.Delete = append(c.req.Delete, key)
		}
	}
	slices.Sort(c.req.Delete)
	return c.req, nil
}
