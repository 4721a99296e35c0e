package group

import (
	"slices"
)

// tp848 is a partition as KIP-848 names it: topic id and index.
type tp848 struct {
	id        [16]byte
	partition int32
}

// tpSet is a set of partitions.
type tpSet map[tp848]struct{}

func (s tpSet) clone() tpSet {
	out := make(tpSet, len(s))
	for tp := range s {
		out[tp] = struct{}{}
	}
	return out
}

func (s tpSet) equal(o tpSet) bool {
	if len(s) != len(o) {
		return false
	}
	for tp := range s {
		if _, ok := o[tp]; !ok {
			return false
		}
	}
	return true
}

// minus is the partitions of s not in o.
func (s tpSet) minus(o tpSet) tpSet {
	out := tpSet{}
	for tp := range s {
		if _, ok := o[tp]; !ok {
			out[tp] = struct{}{}
		}
	}
	return out
}

// Server-side assignor names, Kafka's.
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// assignInput is what an assignor sees: members by id with the topics
// they subscribe to, the topics, and the previous target (for stickiness).
type assignInput struct {
	members  []string            // sorted
	subs     map[string][]string // member → subscribed topic names that exist, sorted
	topics   map[string]TopicInfo
	previous map[string]tpSet
}

// assign computes a target assignment with the named assignor.
func assign(name string, in assignInput) map[string]tpSet {
	if name == assignorRange {
		return assignRange(in)
	}
	return assignUniform(in)
}

// subscribersByTopic maps each subscribed topic to its members, sorted.
func (in assignInput) subscribersByTopic() (map[string][]string, []string) {
	byTopic := map[string][]string{}
	for _, m := range in.members {
		for _, t := range in.subs[m] {
			byTopic[t] = append(byTopic[t], m)
		}
	}
	return byTopic, sortedKeys(byTopic)
}

// assignRange is Kafka's server-side range assignor: every topic's
// partitions split in contiguous ranges among its subscribers, in member
// order, the first ones taking one more when they do not divide evenly.
func assignRange(in assignInput) map[string]tpSet {
	out := map[string]tpSet{}
	for _, m := range in.members {
		out[m] = tpSet{}
	}
	byTopic, names := in.subscribersByTopic()
	for _, t := range names {
		ms, info := byTopic[t], in.topics[t]
		n, k := int(info.Partitions), len(ms)
		p := 0
		for i, m := range ms {
			count := n / k
			if i < n%k {
				count++
			}
			for j := 0; j < count; j++ {
				out[m][tp848{info.ID, int32(p)}] = struct{}{}
				p++
			}
		}
	}
	return out
}

// assignUniform is a sticky uniform assignor, as Kafka's: every member
// gets as many partitions as the others (±1) of the topics it subscribes
// to, keeping the partitions it had in the previous target where that
// does not unbalance the group.
func assignUniform(in assignInput) map[string]tpSet {
	out := map[string]tpSet{}
	for _, m := range in.members {
		out[m] = tpSet{}
	}
	byTopic, names := in.subscribersByTopic()
	var all []tp848
	subscribed := map[tp848][]string{}
	for _, t := range names {
		info := in.topics[t]
		for p := int32(0); p < info.Partitions; p++ {
			tp := tp848{info.ID, p}
			all = append(all, tp)
			subscribed[tp] = byTopic[t]
		}
	}
	if len(in.members) == 0 {
		return out
	}
	quota := len(all) / len(in.members)
	extras := len(all) % len(in.members)
	taken := map[tp848]bool{}
	// Keep previous partitions up to the quota, then one extra each while
	// extras remain.
	for pass := 0; pass < 2; pass++ {
		for _, m := range in.members {
			prev := sortedTPs(in.previous[m])
			limit := quota
			if pass == 1 {
				if extras == 0 || len(out[m]) != quota {
					continue
				}
				limit = quota + 1
			}
			for _, tp := range prev {
				if len(out[m]) >= limit {
					break
				}
				if taken[tp] || !slices.Contains(subscribed[tp], m) {
					continue
				}
				out[m][tp] = struct{}{}
				taken[tp] = true
			}
			if pass == 1 && len(out[m]) == quota+1 {
				extras--
			}
		}
	}
	// Hand the rest to the subscribed member with the fewest.
	for _, tp := range all {
		if taken[tp] {
			continue
		}
		best := ""
		for _, m := range subscribed[tp] {
			if best == "" || len(out[m]) < len(out[best]) {
				best = m
			}
		}
		out[best][tp] = struct{}{}
	}
	return out
}

// sortedTPs is s in topic id then partition order.
func sortedTPs(s tpSet) []tp848 {
	out := make([]tp848, 0, len(s))
	for tp := range s {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b tp848) int {
		for i := range a.id {
			if a.id[i] != b.id[i] {
				return int(a.id[i]) - int(b.id[i])
			}
		}
		return int(a.partition - b.partition)
	})
	return out
}
