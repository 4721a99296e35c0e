package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultBootstrap is where "runnel admin" connects without --bootstrap:
// the Kafka address of "runnel dev".
const defaultBootstrap = "127.0.0.1:9092"

// adminCommand is "runnel admin": cluster operations over the Kafka protocol,
// in the spirit of kafka-topics and kafka-metadata-quorum.
func adminCommand() *command {
	return &command{
		name:    "admin",
		summary: "inspect and change a running cluster over the Kafka protocol",
		help: `Cluster operations over the Kafka protocol, against any broker (--bootstrap,
default the Kafka address of "runnel dev"): the brokers and the metadata
quorum, raft voters, topics. Output is a table, or JSON with --json. Errors
are one line on stderr: exit 1 when the cluster refused or could not be
reached, 2 for a bad command line.`,
		subs: []*command{
			adminClusterCommand(),
			{
				name:    "voters",
				summary: "add or remove metadata quorum voters",
				help: `Grow or shrink the metadata raft quorum (KIP-853's AddRaftVoter and
RemoveRaftVoter). Start the new broker outside --voters: it waits as a
learner until it is added.`,
				subs: []*command{adminVotersAddCommand(), adminVotersRemoveCommand()},
			},
			{
				name:    "topics",
				summary: "list, create, describe, alter and delete topics",
				help:    "Topic administration, as kafka-topics and kafka-configs do it.",
				subs: []*command{
					adminTopicsListCommand(), adminTopicsCreateCommand(), adminTopicsDescribeCommand(),
					adminTopicsAlterCommand(), adminTopicsDeleteCommand(),
				},
			},
		},
	}
}

// adminFlags are the flags of every "runnel admin" command.
type adminFlags struct {
	bootstrap string
	json      bool
	timeout   time.Duration
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bootstrap, "bootstrap", defaultBootstrap, "Kafka `address`es of brokers to start from, comma-separated (for \"voters\": a broker's --admin-addr)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the cluster")
}

// adminSession is a connection to the cluster for one command.
type adminSession struct {
	cl   *kgo.Client
	adm  *kadm.Client
	seed string
	ctx  context.Context
	stop context.CancelFunc
}

// connect returns a session with the cluster; no request is sent yet.
func (f *adminFlags) connect(ctx context.Context) (*adminSession, error) {
	var seeds []string
	for s := range strings.SplitSeq(f.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, _, err := net.SplitHostPort(s); err != nil {
				return nil, usagef("--bootstrap %q: want host:port", s)
			}
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, usagef("--bootstrap is empty")
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout %v: want a positive duration", f.timeout)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("runnel-admin"),
		kgo.RetryTimeout(f.timeout), kgo.DialTimeout(min(f.timeout, 5*time.Second)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", f.bootstrap, err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(f.timeout.Milliseconds()))
	ctx, stop := context.WithTimeout(ctx, f.timeout)
	return &adminSession{cl: cl, adm: adm, seed: seeds[0], ctx: ctx, stop: stop}, nil
}

func (s *adminSession) close() {
	s.stop()
	s.cl.Close()
}

// wireError says in one line why a request did not get an answer.
func (s *adminSession) wireError(what string, err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: no broker listens at %s (is the cluster running? see --bootstrap)", what, s.seed)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(s.ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer from %s within the timeout (see --bootstrap, --timeout)", what, s.seed)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// kafkaError is a Kafka error code with the broker's message, in one line.
func kafkaError(what string, code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	e := kerr.ErrorForCode(code)
	if msg != nil && *msg != "" {
		return fmt.Errorf("%s: %s: %s", what, *msg, kerrName(e))
	}
	return fmt.Errorf("%s: %v", what, e)
}

// kerrName is the Kafka name of an error, such as INVALID_REQUEST.
func kerrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes tab-separated rows aligned in columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// dash shows an unknown or empty value in a table.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// run makes a command's run function: f gets a session with the cluster
// (closed when f returns). Command line checks in f come first, since the
// session sends nothing until f does.
func (f *adminFlags) run(fn func(s *adminSession, inv *invocation) error) func(context.Context, *invocation) error {
	return func(ctx context.Context, inv *invocation) error {
		s, err := f.connect(ctx)
		if err != nil {
			return err
		}
		defer s.close()
		return fn(s, inv)
	}
}

// emit prints v as JSON with --json, else text.
func (f *adminFlags) emit(inv *invocation, v any, text string) error {
	if f.json {
		return printJSON(inv.stdout, v)
	}
	_, err := io.WriteString(inv.stdout, text)
	return err
}
