package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func init() { register(kmsg.DeleteACLs, 0, 3, (*Broker).handleDeleteAcls) }

// handleDeleteAcls deletes the ACLs that pass each filter, all in one
// metadata entry, and lists them per filter.
func (b *Broker) handleDeleteAcls(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	acls := b.member.Image().ACLs()
	var del controller.AlterACLsRequest
	picked := map[metadata.ACL]bool{}
	for _, rf := range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		f := aclFilter{int8(rf.ResourceType), rf.ResourceName, int8(rf.ResourcePatternType), rf.Principal, rf.Host, int8(rf.Operation), int8(rf.PermissionType)}
		if err := f.validate(); err != nil {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			resp.Results = append(resp.Results, res)
			continue
		}
		for _, a := range acls {
			if !f.matches(&a) {
				continue
			}
			if !picked[a] {
				picked[a] = true
				del.Delete = append(del.Delete, a)
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			res.MatchingACLs = append(res.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(del.Delete) == 0 {
		return &kafkaserver.Response{Msg: resp}, nil
	}
	ctx, cancel := adminContext(ctx, 0)
	defer cancel()
	if err := b.member.AlterACLs(ctx, del); err != nil {
		for i := range resp.Results {
			if resp.Results[i].ErrorCode == 0 {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errorCode(err), errorMessage(err)
				resp.Results[i].MatchingACLs = nil
			}
		}
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
