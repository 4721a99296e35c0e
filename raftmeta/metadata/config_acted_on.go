package metadata

// inertConfigs are the topic configs Runnel knows (KnownConfig: it stores,
// validates and reports them) but does not act on yet, each with the one
// value that describes what Runnel does, and why it does nothing else.
var inertConfigs = map[string]struct{ value, why string }{
	ConfigRemoteStorageEnable: {"false", "tiered storage is not available yet"},
	ConfigLocalRetentionMs:    {"-2", "it only applies with tiered storage, which is not available yet; retention.ms governs the whole log"},
	ConfigLocalRetentionBytes: {"-2", "it only applies with tiered storage, which is not available yet; retention.bytes governs the whole log"},
}

// CheckActedOn refuses, with ErrInvalidConfig, setting a topic config to a
// value Runnel would store but not act on, so that an admin is not led to
// believe it took effect. It is for admin requests (Kafka's CreateTopics,
// AlterConfigs and IncrementalAlterConfigs, and the gateway's REST API),
// not for applying committed records: topics created before a key became
// refused keep it.
func CheckActedOn(key, value string) error {
	inert, ok := inertConfigs[key]
	if !ok || value == inert.value {
		return nil
	}
	return rejectf(ErrInvalidConfig, "%s=%q: Runnel does not act on %s: %s; leave it out (or set %q)", key, value, key, inert.why, inert.value)
}
