package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/runnel-dev/runnel/broker"
)

// tierCommand is "runnel tier": what a cluster keeps in its object store,
// asked of a broker's operator HTTP address (its --metrics), which holds
// the store's credentials.
func tierCommand() *command {
	return &command{
		name:    "tier",
		summary: "list and verify the remote segments of tiered topics",
		help: `Tiered storage operations, through a broker's operator HTTP address (the
--metrics address of "runnel broker" or "runnel dev"): the broker reads the
cluster metadata and the object store, so this command needs no store
credentials. Output is a table, or JSON with --json. Errors are one line on
stderr: exit 1 when something is wrong or the broker could not be reached,
2 for a bad command line.`,
		subs: []*command{tierLsCommand(), tierVerifyCommand()},
	}
}

// tierOpsFlags are the flags of every "runnel tier" command.
type tierOpsFlags struct {
	addr    string
	json    bool
	timeout time.Duration
}

func (f *tierOpsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "broker-http", "", "a broker's operator HTTP `address` (its --metrics address), host:port")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the answer (verify reads every object)")
}

// call sends method path to the broker and decodes its JSON answer into
// out; a refusal becomes the broker's error message, in one line.
func (f *tierOpsFlags) call(ctx context.Context, method, path string, query url.Values, out any) error {
	if f.addr == "" {
		return usagef("give --broker-http, the --metrics address of a broker (runnel broker --metrics ADDR)")
	}
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return usagef("--broker-http %q: want host:port", f.addr)
	}
	if f.timeout <= 0 {
		return usagef("--timeout %v: want a positive duration", f.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	u := url.URL{Scheme: "http", Host: f.addr, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens at %s (is the broker running with --metrics %s?)", f.addr, f.addr)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from %s within %v (see --timeout)", f.addr, f.timeout)
	case err != nil:
		return fmt.Errorf("%s %s: %w", method, u.String(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", f.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s (%s)", e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("%s answered %s: is it a Runnel broker's --metrics address?", f.addr, resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s answered something that is not a tiering report: %v", f.addr, err)
	}
	return nil
}

func tierLsCommand() *command {
	var tf tierOpsFlags
	return &command{
		name:    "ls",
		args:    "TOPIC",
		summary: "list a topic's remote segments",
		help: `List TOPIC's remote segments as the cluster metadata records them: partition,
offsets (end inclusive), size of the log object, largest record timestamp,
the leader epoch that uploaded it and its object key; then each partition's
totals and first offset served remotely.`,
		minArgs: 1, maxArgs: 1,
		flags: tf.register,
		run: func(ctx context.Context, inv *invocation) error {
			var l broker.TierListing
			if err := tf.call(ctx, http.MethodGet, "/v1/tier/segments", url.Values{"topic": {inv.args[0]}}, &l); err != nil {
				return err
			}
			if tf.json {
				return printJSON(inv.stdout, l)
			}
			t := newTable(inv.stdout, "PARTITION", "BASE", "END", "SIZE", "MAX TIMESTAMP", "EPOCH", "KEY")
			for _, s := range l.Segments {
				t.row(strconv.Itoa(int(s.Partition)), strconv.FormatInt(s.BaseOffset, 10), strconv.FormatInt(s.EndOffset, 10),
					strconv.FormatInt(s.Size, 10), recordTime(s.MaxTimestamp), strconv.Itoa(int(s.LeaderEpoch)), s.Key)
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintln(inv.stdout)
			t = newTable(inv.stdout, "PARTITION", "SEGMENTS", "BYTES", "REMOTE START")
			for _, p := range l.Partitions {
				start := "-"
				if p.RemoteStart != nil {
					start = strconv.FormatInt(*p.RemoteStart, 10)
				}
				t.row(strconv.Itoa(int(p.Partition)), strconv.Itoa(p.Segments), strconv.FormatInt(p.Bytes, 10), start)
			}
			t.row("total", strconv.Itoa(l.Total.Segments), strconv.FormatInt(l.Total.Bytes, 10), "")
			return t.flush()
		},
	}
}

// errTierProblems makes "runnel tier verify" exit 1 once it printed what
// it found.
var errTierProblems = errors.New("the object store does not match the metadata")

func tierVerifyCommand() *command {
	var tf tierOpsFlags
	var topic string
	return &command{
		name:    "verify",
		summary: "check every remote segment's objects and list orphans",
		help: `Have the broker read back, whole, every object of every remote segment the
cluster metadata records (so that its CRC-32C is checked) and compare each
log object's size with the record; then list the objects no record names
(orphans: an upload in progress shows as one until its record commits) and
keys that are no segment's file. Exit 1 when anything is wrong.`,
		flags: func(fs *flag.FlagSet) {
			tf.register(fs)
			fs.StringVar(&topic, "topic", "", "check this topic only (default: every topic, and every object under the cluster's prefix)")
		},
		run: func(ctx context.Context, inv *invocation) error {
			q := url.Values{}
			if topic != "" {
				q.Set("topic", topic)
			}
			var rep broker.TierVerifyReport
			if err := tf.call(ctx, http.MethodPost, "/v1/tier/verify", q, &rep); err != nil {
				return err
			}
			if tf.json {
				if err := printJSON(inv.stdout, rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(inv.stdout, "checked %d segments: %d objects, %d bytes read; %d objects listed\n", rep.Segments, rep.Objects, rep.Bytes, rep.Listed)
				if len(rep.Problems) > 0 {
					t := newTable(inv.stdout, "PROBLEM", "TOPIC", "PARTITION", "KEY", "DETAIL")
					for _, p := range rep.Problems {
						part := strconv.Itoa(int(p.Partition))
						if p.Partition < 0 {
							part = "-"
						}
						t.row(p.Kind, dash(p.Topic), part, p.Key, dash(p.Detail))
					}
					if err := t.flush(); err != nil {
						return err
					}
				}
			}
			if !rep.OK {
				return fmt.Errorf("%w: %d problems", errTierProblems, len(rep.Problems))
			}
			return nil
		},
	}
}

// recordTime shows a record timestamp (Unix ms) in UTC, "-" for none.
func recordTime(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
