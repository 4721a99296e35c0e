package saslauth

// Principal is what an authenticated connection may do; the broker asks it
// for every topic, group and cluster operation. *auth.Principal (a token's
// "runnel" claim) implements it.
type Principal interface {
	// IsAdmin reports whether the principal may do everything.
	IsAdmin() bool
	// CanProduce reports whether the principal may write to topic.
	CanProduce(topic string) bool
	// CanConsume reports whether the principal may read from topic.
	CanConsume(topic string) bool
}
