package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func init() { register(kmsg.CreateACLs, 0, 3, (*Broker).handleCreateAcls) }

// handleCreateAcls stores the valid creations together, in one metadata
// entry; each invalid one gets its own error (INVALID_REQUEST), as in
// Kafka.
func (b *Broker) handleCreateAcls(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	var valid controller.AlterACLsRequest
	errs := make([]error, len(req.Creations))
	for i, c := range req.Creations {
		a := metadata.ACL{
			ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: int8(c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), Permission: int8(c.PermissionType),
		}
		if errs[i] = a.Validate(); errs[i] == nil {
			valid.Create = append(valid.Create, a)
		}
	}
	var stored error
	if len(valid.Create) > 0 {
		ctx, cancel := adminContext(ctx, 0)
		defer cancel()
		stored = b.member.AlterACLs(ctx, valid)
	}
	for _, err := range errs {
		if err == nil {
			err = stored
		}
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, res)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
