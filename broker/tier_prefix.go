package broker

// tierPrefix is where this cluster's objects live in the store:
// Config.Tier.Prefix, or "runnel/<cluster id>" when it is empty (the id the
// first controller stored in the metadata, the same on every broker); ""
// while the metadata has no cluster id yet.
func (b *Broker) tierPrefix() string {
	if b.cfg.Tier.Prefix != "" {
		return b.cfg.Tier.Prefix
	}
	if id := b.member.Image().ClusterID(); id != "" {
		return "runnel/" + id
	}
	return ""
}
