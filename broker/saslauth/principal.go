package saslauth

import "github.com/runnel-dev/runnel/gateway/auth"

// Principal is what an authenticated connection may do; the broker asks it
// for every topic, group and cluster operation.
type Principal interface {
	// IsAdmin reports whether the principal may do everything: topic,
	// configuration, group and cluster administration.
	IsAdmin() bool
	// CanProduce reports whether the principal may write to topic.
	CanProduce(topic string) bool
	// CanConsume reports whether the principal may read from topic.
	CanConsume(topic string) bool
	// CanDescribe reports whether the principal may see that topic
	// exists (Metadata, DescribeConfigs).
	CanDescribe(topic string) bool
	// MayProduce reports whether the principal may write to some topic:
	// what an idempotent producer id needs (Kafka's IDEMPOTENT_WRITE).
	MayProduce() bool
	// CanUseGroup reports whether the principal may join, commit in and
	// describe consumer group (Kafka's READ on the group).
	CanUseGroup(group string) bool
}

// TokenPrincipal is the Principal of a verified token: the permissions of
// its "runnel" claim. Tokens name no groups, so any principal that may
// consume some topic may use any group; what it reads and commits is still
// checked topic by topic.
type TokenPrincipal struct {
	*auth.Principal
}

// CanDescribe reports whether the token may produce to or consume from
// topic.
func (p TokenPrincipal) CanDescribe(topic string) bool {
	return p.CanProduce(topic) || p.CanConsume(topic)
}

// MayProduce reports whether the token may produce to some topic.
func (p TokenPrincipal) MayProduce() bool {
	return p.IsAdmin() || (p.Principal != nil && len(p.Produce) > 0)
}

// CanUseGroup reports whether the token may consume from some topic.
func (p TokenPrincipal) CanUseGroup(string) bool {
	return p.IsAdmin() || (p.Principal != nil && len(p.Consume) > 0)
}
