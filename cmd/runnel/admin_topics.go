package main

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configList is a repeatable --set flag of name=value pairs. A value
// may hold commas (cleanup.policy=compact,delete), so each use is one pair.
type configList map[string]string

func (c *configList) String() string {
	var parts []string
	for k, v := range *c {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (c *configList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	if *c == nil {
		*c = configList{}
	}
	(*c)[strings.TrimSpace(k)] = v
	return nil
}

// nameList is a repeatable flag of names (--delete-config).
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty name")
	}
	*l = append(*l, strings.TrimSpace(s))
	return nil
}

// topicSummary is one row of "runnel admin topics list". ID is written as
// a UUID, as the REST API and partition.metadata write it.
type topicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

// topicDescription is one topic of "runnel admin topics describe".
type topicDescription struct {
	topicSummary
	PartitionDetails []partitionView   `json:"partition_details"`
	Configs          map[string]string `json:"configs"`
}

type partitionView struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Error       string  `json:"error,omitempty"`
}

func summarize(d kadm.TopicDetail) topicSummary {
	s := topicSummary{Name: d.Topic, ID: uuid.UUID(d.ID).String(), Partitions: len(d.Partitions)}
	for _, p := range d.Partitions {
		s.ReplicationFactor = max(s.ReplicationFactor, len(p.Replicas))
	}
	return s
}

func adminTopicsListCommand() *command {
	var af adminFlags
	var internal bool
	return &command{
		name:    "list",
		summary: "list topics with their partition count and replication factor",
		help:    "List the cluster's topics, sorted by name.",
		flags: func(fs *flag.FlagSet) {
			af.register(fs)
			fs.BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets)")
		},
		run: af.run(func(s *adminSession, inv *invocation) error {
			list := s.adm.ListTopics
			if internal {
				list = s.adm.ListTopicsWithInternal
			}
			tds, err := list(s.ctx)
			if err != nil {
				return s.wireError("list topics", err)
			}
			out := []topicSummary{}
			for _, name := range tds.Names() {
				out = append(out, summarize(tds[name]))
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
			if af.json {
				return printJSON(inv.stdout, out)
			}
			t := newTable(inv.stdout, "TOPIC", "PARTITIONS", "RF", "ID")
			for _, ts := range out {
				t.row(ts.Name, strconv.Itoa(ts.Partitions), strconv.Itoa(ts.ReplicationFactor), ts.ID)
			}
			return t.flush()
		}),
	}
}

func adminTopicsCreateCommand() *command {
	var af adminFlags
	var partitions, rf int
	var configs configList
	return &command{
		name:    "create",
		args:    "TOPIC",
		summary: "create a topic",
		help: `Create TOPIC with --partitions and --replication-factor (the broker's defaults
when not given) and topic configs (--set name=value, repeatable; kafka-topics
calls it --config, which names the config file here).`,
		minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet) {
			af.register(fs)
			fs.IntVar(&partitions, "partitions", -1, "number of partitions (-1: the broker's default)")
			fs.IntVar(&rf, "replication-factor", -1, "replicas of each partition (-1: the broker's default)")
			fs.Var(&configs, "set", "topic config `name=value` (repeatable)")
		},
		run: af.run(func(s *adminSession, inv *invocation) error {
			name := inv.args[0]
			if partitions == 0 || partitions < -1 || partitions > 1<<31-1 {
				return usagef("--partitions %d: want at least 1, or -1 for the broker's default", partitions)
			}
			if rf == 0 || rf < -1 || rf > 1<<15-1 {
				return usagef("--replication-factor %d: want at least 1, or -1 for the broker's default", rf)
			}
			cfg := map[string]*string{}
			for k, v := range configs {
				cfg[k] = &v
			}
			resp, err := s.adm.CreateTopic(s.ctx, int32(partitions), int16(rf), cfg, name)
			what := fmt.Sprintf("create topic %q", name)
			if err == nil {
				err = resp.Err
			}
			if err != nil {
				return topicError(s, what, err, resp.ErrMessage)
			}
			return af.emit(inv, topicSummary{Name: name, ID: uuid.UUID(resp.ID).String(), Partitions: int(resp.NumPartitions), ReplicationFactor: int(resp.ReplicationFactor)},
				fmt.Sprintf("created topic %s: %d partitions, replication factor %d\n", name, resp.NumPartitions, resp.ReplicationFactor))
		}),
	}
}

// topicError is a refusal with the broker's message when it gave one, or
// why the request got no answer.
func topicError(s *adminSession, what string, err error, msg string) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if msg != "" {
			return fmt.Errorf("%s: %s: %s", what, msg, kerrName(err))
		}
		return fmt.Errorf("%s: %v", what, err)
	}
	return s.wireError(what, err)
}

func adminTopicsDescribeCommand() *command {
	var af adminFlags
	return &command{
		name:    "describe",
		args:    "TOPIC...",
		summary: "show topics' partitions, leaders, replicas, ISR and configs",
		help: `Show each TOPIC's id, partitions (leader, leader epoch, replicas, in-sync
replicas) and the configs set on it (not the broker's defaults).`,
		minArgs: 1, maxArgs: -1,
		flags: af.register,
		run: af.run(func(s *adminSession, inv *invocation) error {
			tds, err := s.adm.ListTopicsWithInternal(s.ctx, inv.args...)
			if err != nil {
				return s.wireError("describe topics", err)
			}
			var out []topicDescription
			for _, name := range inv.args {
				d, ok := tds[name]
				if !ok || d.Err != nil {
					e := d.Err
					if e == nil {
						e = fmt.Errorf("not in the cluster's metadata")
					}
					return fmt.Errorf("describe topic %q: %v", name, e)
				}
				td := topicDescription{topicSummary: summarize(d), Configs: map[string]string{}}
				for _, p := range d.Partitions.Sorted() {
					pv := partitionView{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR}
					if p.Err != nil {
						pv.Error = p.Err.Error()
					}
					td.PartitionDetails = append(td.PartitionDetails, pv)
				}
				out = append(out, td)
			}
			rcs, err := s.adm.DescribeTopicConfigs(s.ctx, inv.args...)
			if err != nil {
				return s.wireError("describe topic configs", err)
			}
			for _, rc := range rcs {
				for i := range out {
					if out[i].Name != rc.Name {
						continue
					}
					if rc.Err != nil {
						return fmt.Errorf("describe configs of topic %q: %v", rc.Name, rc.Err)
					}
					for _, c := range rc.Configs {
						if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
							out[i].Configs[c.Key] = *c.Value
						}
					}
				}
			}
			if af.json {
				return printJSON(inv.stdout, out)
			}
			return printTopics(inv, out)
		}),
	}
}

func printTopics(inv *invocation, ts []topicDescription) error {
	w := inv.stdout
	for i, td := range ts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Topic: %s  ID: %s  Partitions: %d  Replication factor: %d\n", td.Name, td.ID, td.Partitions, td.ReplicationFactor)
		t := newTable(w, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "ERROR")
		for _, p := range td.PartitionDetails {
			t.row(strconv.Itoa(int(p.Partition)), idOrNone(p.Leader), strconv.Itoa(int(p.LeaderEpoch)), ids(p.Replicas), ids(p.ISR), dash(p.Error))
		}
		if err := t.flush(); err != nil {
			return err
		}
		if len(td.Configs) == 0 {
			fmt.Fprintln(w, "Configs: none set on the topic (the broker's defaults apply)")
			continue
		}
		fmt.Fprintln(w, "Configs set on the topic:")
		keys := make([]string, 0, len(td.Configs))
		for k := range td.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s=%s\n", k, td.Configs[k])
		}
	}
	return nil
}

// ids shows broker ids as "1,2,3".
func ids(v []int32) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func adminTopicsAlterCommand() *command {
	var af adminFlags
	var partitions int
	var set configList
	var del nameList
	return &command{
		name:    "alter",
		args:    "TOPIC",
		summary: "add partitions to a topic or change its configs",
		help: `Grow TOPIC to --partitions (partitions can be added, never removed), set
configs (--set name=value, repeatable) and remove configs so the broker's
default applies again (--delete-config name, repeatable). Configs change
incrementally (IncrementalAlterConfigs): the others are kept.`,
		minArgs: 1, maxArgs: 1,
		flags: func(fs *flag.FlagSet) {
			af.register(fs)
			fs.IntVar(&partitions, "partitions", 0, "new total number of partitions (0: unchanged)")
			fs.Var(&set, "set", "topic config `name=value` to set (repeatable)")
			fs.Var(&del, "delete-config", "topic config `name` to remove (repeatable)")
		},
		run: af.run(func(s *adminSession, inv *invocation) error {
			name := inv.args[0]
			if partitions < 0 || partitions > 1<<31-1 {
				return usagef("--partitions %d: want the new total, at least 1", partitions)
			}
			if partitions == 0 && len(set) == 0 && len(del) == 0 {
				return usagef("nothing to change: give --partitions, --set or --delete-config")
			}
			var done []string
			if len(set) > 0 || len(del) > 0 {
				var alters []kadm.AlterConfig
				for k, v := range set {
					alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
				}
				for _, k := range del {
					alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
				}
				rs, err := s.adm.AlterTopicConfigs(s.ctx, alters, name)
				what := fmt.Sprintf("alter configs of topic %q", name)
				if err != nil {
					return s.wireError(what, err)
				}
				for _, r := range rs {
					if r.Err != nil {
						return topicError(s, what, r.Err, r.ErrMessage)
					}
				}
				done = append(done, fmt.Sprintf("%d configs changed", len(alters)))
			}
			if partitions > 0 {
				rs, err := s.adm.UpdatePartitions(s.ctx, partitions, name)
				what := fmt.Sprintf("set the partitions of topic %q to %d", name, partitions)
				if err != nil {
					return s.wireError(what, err)
				}
				for _, r := range rs {
					if r.Err != nil {
						return topicError(s, what, r.Err, r.ErrMessage)
					}
				}
				done = append(done, fmt.Sprintf("%d partitions", partitions))
			}
			return af.emit(inv, map[string]any{"topic": name, "altered": done}, fmt.Sprintf("altered topic %s: %s\n", name, strings.Join(done, ", ")))
		}),
	}
}

func adminTopicsDeleteCommand() *command {
	var af adminFlags
	return &command{
		name:    "delete",
		args:    "TOPIC...",
		summary: "delete topics and their data",
		help:    "Delete each TOPIC and its data. This cannot be undone.",
		minArgs: 1, maxArgs: -1,
		flags: af.register,
		run: af.run(func(s *adminSession, inv *invocation) error {
			rs, err := s.adm.DeleteTopics(s.ctx, inv.args...)
			if err != nil {
				return s.wireError("delete topics", err)
			}
			for _, name := range inv.args {
				r := rs[name]
				if r.Err != nil {
					return topicError(s, fmt.Sprintf("delete topic %q", name), r.Err, r.ErrMessage)
				}
			}
			return af.emit(inv, map[string]any{"deleted": inv.args}, fmt.Sprintf("deleted %s\n", strings.Join(inv.args, ", ")))
		}),
	}
}
