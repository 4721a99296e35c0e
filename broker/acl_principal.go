package broker

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// aclPrincipal is a SCRAM user authorized by the ACLs in the metadata, as
// Kafka's StandardAuthorizer does: a DENY that matches wins, then an ALLOW
// that matches; nothing matching denies. An ACL matches the user's
// principal or "User:*", and host "*" or the client's IP address as the
// connection shows it. Reading, writing, deleting or altering a
// resource implies describing it. The ACLs are read at every check, so a
// change applies to connections already authenticated.
type aclPrincipal struct {
	name  string // "User:alice"
	host  string // the client's IP address; "" when unknown
	view  MetadataView
	super bool
}

const (
	aclAll             = int8(kmsg.ACLOperationAll)
	aclRead            = int8(kmsg.ACLOperationRead)
	aclWrite           = int8(kmsg.ACLOperationWrite)
	aclDelete          = int8(kmsg.ACLOperationDelete)
	aclAlter           = int8(kmsg.ACLOperationAlter)
	aclDescribe        = int8(kmsg.ACLOperationDescribe)
	aclIdempotentWrite = int8(kmsg.ACLOperationIdempotentWrite)
	aclDeny            = int8(kmsg.ACLPermissionTypeDeny)
	aclAllow           = int8(kmsg.ACLPermissionTypeAllow)
	aclTopic           = int8(kmsg.ACLResourceTypeTopic)
	aclGroup           = int8(kmsg.ACLResourceTypeGroup)
)

// matches reports whether a applies to p on the resource.
func (p *aclPrincipal) matches(a *metadata.ACL, resType int8, resource string) bool {
	if a.ResourceType != resType || !p.hostMatches(a.Host) || (a.Principal != p.name && a.Principal != "User:*") {
		return false
	}
	if a.PatternType == metadata.ACLPatternPrefixed {
		return strings.HasPrefix(resource, a.ResourceName)
	}
	return a.ResourceName == resource || a.ResourceName == "*"
}

// hostMatches reports whether an ACL's host applies to p's client.
func (p *aclPrincipal) hostMatches(host string) bool {
	return host == "*" || (p.host != "" && host == p.host)
}

// allowed reports whether p may do op on the resource.
func (p *aclPrincipal) allowed(resType int8, resource string, op int8) bool {
	if p.super {
		return true
	}
	allow := false
	for i, acls := 0, p.view.Image().ACLs(); i < len(acls); i++ {
		a := &acls[i]
		if !p.matches(a, resType, resource) {
			continue
		}
		switch {
		case a.Permission == aclDeny && (a.Operation == aclAll || a.Operation == op):
			return false
		case a.Permission == aclAllow && (a.Operation == aclAll || a.Operation == op ||
			op == aclDescribe && (a.Operation == aclRead || a.Operation == aclWrite || a.Operation == aclDelete || a.Operation == aclAlter)):
			allow = true
		}
	}
	return allow
}

// IsAdmin: ALTER (or ALL) on the cluster.
func (p *aclPrincipal) IsAdmin() bool {
	return p.allowed(metadata.ACLResourceCluster, metadata.ACLClusterName, aclAlter)
}

// CanProduce: WRITE on the topic.
func (p *aclPrincipal) CanProduce(topic string) bool { return p.allowed(aclTopic, topic, aclWrite) }

// CanConsume: READ on the topic.
func (p *aclPrincipal) CanConsume(topic string) bool { return p.allowed(aclTopic, topic, aclRead) }

// CanDescribe: DESCRIBE on the topic, or an operation implying it.
func (p *aclPrincipal) CanDescribe(topic string) bool {
	return p.allowed(aclTopic, topic, aclDescribe)
}

// MayProduce: IDEMPOTENT_WRITE on the cluster, or an ALLOW of WRITE on
// some topic.
func (p *aclPrincipal) MayProduce() bool {
	if p.allowed(metadata.ACLResourceCluster, metadata.ACLClusterName, aclIdempotentWrite) {
		return true
	}
	for _, a := range p.view.Image().ACLs() {
		if a.ResourceType == aclTopic && a.Permission == aclAllow && (a.Operation == aclWrite || a.Operation == aclAll) &&
			p.hostMatches(a.Host) && (a.Principal == p.name || a.Principal == "User:*") {
			return true
		}
	}
	return false
}

// CanUseGroup: READ on the group.
func (p *aclPrincipal) CanUseGroup(group string) bool { return p.allowed(aclGroup, group, aclRead) }
