package broker

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

func init() { register(kmsg.DescribeACLs, 0, 3, (*Broker).handleDescribeAcls) }

// aclFilter is the filter of DescribeAcls and DeleteAcls.
type aclFilter struct {
	resourceType int8
	name         *string
	patternType  int8
	principal    *string
	host         *string
	operation    int8
	permission   int8
}

// errBadACLFilter refuses a filter with an unknown code.
var errBadACLFilter = errors.New("ACL filter has an unknown resource type, pattern type, operation or permission")

func (f *aclFilter) validate() error {
	if f.resourceType < 1 || f.resourceType > 7 || f.patternType < 1 || f.patternType > 4 ||
		f.operation < 1 || f.operation > 14 || f.permission < 1 || f.permission > 3 {
		return errBadACLFilter
	}
	return nil
}

// matches reports whether a passes f, as Kafka's AclBindingFilter does:
// "any" codes and null strings match everything; pattern type MATCH
// matches the ACLs that would apply to the named resource.
func (f *aclFilter) matches(a *metadata.ACL) bool {
	const anyCode, match = 1, 2
	if f.resourceType != anyCode && f.resourceType != a.ResourceType ||
		f.operation != anyCode && f.operation != a.Operation ||
		f.permission != anyCode && f.permission != a.Permission ||
		f.principal != nil && *f.principal != a.Principal ||
		f.host != nil && *f.host != a.Host {
		return false
	}
	switch f.patternType {
	case anyCode:
		return f.name == nil || *f.name == a.ResourceName
	case match:
		if f.name == nil {
			return true
		}
		if a.PatternType == metadata.ACLPatternPrefixed {
			return strings.HasPrefix(*f.name, a.ResourceName)
		}
		return a.ResourceName == *f.name || a.ResourceName == "*"
	}
	return f.patternType == a.PatternType && (f.name == nil || *f.name == a.ResourceName)
}

// handleDescribeAcls lists the ACLs that pass the filter, grouped by
// resource pattern.
func (b *Broker) handleDescribeAcls(_ context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := aclFilter{int8(req.ResourceType), req.ResourceName, int8(req.ResourcePatternType), req.Principal, req.Host, int8(req.Operation), int8(req.PermissionType)}
	if err := f.validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
		return &kafkaserver.Response{Msg: resp}, nil
	}
	for _, a := range b.member.Image().ACLs() {
		if !f.matches(&a) {
			continue
		}
		// The image orders ACLs by resource pattern first, so those of one
		// resource are adjacent.
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceName != a.ResourceName || int8(resp.Resources[n-1].ResourceType) != a.ResourceType ||
			int8(resp.Resources[n-1].ResourcePatternType) != a.PatternType {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host = a.Principal, a.Host
		acl.Operation, acl.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, acl)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}
