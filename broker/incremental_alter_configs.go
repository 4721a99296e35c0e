package broker

import (
	"context"

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
// controller (alterConfigResources). SET needs a key the controller accepts
// and a valid value; DELETE returns a key to its default. APPEND and
// SUBTRACT are refused: no topic config Runnel lets one change is a list.
// With validate_only the changes are checked and not made.
func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	alts := make([]configAlteration, len(req.Resources))
	for i, res := range req.Resources {
		alts[i] = configAlteration{typ: res.ResourceType, name: res.ResourceName, configs: len(res.Configs),
			change: func(*metadata.Topic) (controller.AlterConfigsRequest, error) { return incrementalChange(res) }}
	}
	for i, err := range b.alterConfigResources(ctx, alts, req.ValidateOnly) {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = req.Resources[i].ResourceType, req.Resources[i].ResourceName
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// incrementalChange builds the change of one resource: its operations only.
func incrementalChange(res kmsg.IncrementalAlterConfigsRequestResource) (controller.AlterConfigsRequest, error) {
	c := newConfigChanges(res.ResourceName)
	for _, rc := range res.Configs {
		var err error
		switch rc.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			err = c.set(rc.Name, rc.Value)
		case kmsg.IncrementalAlterConfigOpDelete:
			err = c.remove(rc.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			err = refuse(kerr.InvalidConfig, "%s on %q: no list-valued configs can be changed here; use SET with the whole value", rc.Op, rc.Name)
		default:
			err = refuse(kerr.InvalidRequest, "unknown config operation %d on %q", int8(rc.Op), rc.Name)
		}
		if err != nil {
			return c.req, err
		}
	}
	return c.req, nil
}
