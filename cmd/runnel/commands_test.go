package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// listFlag is a repeatable string flag, as the later --produce and --consume.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint([]string(*l)) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// frameworkTree is a command tree whose commands print what they were given,
// so that tests can watch the framework resolve flags.
func frameworkTree() *command {
	var (
		dataDir string
		count   int
		verbose bool
		tags    listFlag
		name    string
	)
	return &command{
		name: "runnel",
		subs: []*command{
			{
				name:    "echo",
				summary: "print the resolved flags and arguments",
				args:    "[ARG...]",
				maxArgs: -1,
				flags: func(fs *flag.FlagSet) {
					fs.StringVar(&dataDir, "data-dir", "./data", "where data lives")
					fs.IntVar(&count, "count", 1, "how many")
					fs.BoolVar(&verbose, "verbose", false, "say more")
					fs.Var(&tags, "tag", "a tag (repeatable)")
				},
				run: func(_ context.Context, inv *invocation) error {
					fmt.Fprintf(inv.stdout, "data-dir=%s count=%d verbose=%t tag=%v args=%q\n", dataDir, count, verbose, tags, inv.args)
					return nil
				},
			},
			{
				name:    "group",
				summary: "a group of commands",
				subs: []*command{{
					name:    "leaf",
					summary: "a nested command",
					args:    "NAME",
					minArgs: 1,
					maxArgs: 1,
					flags:   func(fs *flag.FlagSet) { fs.StringVar(&name, "greeting", "hello", "what to say") },
					run: func(_ context.Context, inv *invocation) error {
						fmt.Fprintf(inv.stdout, "%s %s\n", name, inv.args[0])
						return nil
					},
				}},
			},
			{
				name:    "fail",
				summary: "fail at run time",
				run: func(context.Context, *invocation) error {
					return errors.New("first line\nsecond line")
				},
			},
		},
	}
}

func framework(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return cli(t, "framework", env, args...)
}

func wantOutput(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 0 || r.stderr != "" || r.stdout != want+"\n" {
		t.Errorf("want exit 0 and %q; got exit %d\nstdout: %q\nstderr: %q", want, r.code, r.stdout, r.stderr)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runnel.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFrameworkDefaults(t *testing.T) {
	wantOutput(t, framework(t, nil, "echo"), `data-dir=./data count=1 verbose=false tag=[] args=[]`)
}

func TestFrameworkEnvironment(t *testing.T) {
	env := []string{"RUNNEL_DATA_DIR=/from/env", "RUNNEL_COUNT=5", "RUNNEL_VERBOSE=true", "RUNNEL_TAG=x"}
	wantOutput(t, framework(t, env, "echo"), `data-dir=/from/env count=5 verbose=true tag=[x] args=[]`)
	// An empty variable counts as unset.
	wantOutput(t, framework(t, []string{"RUNNEL_DATA_DIR="}, "echo"), `data-dir=./data count=1 verbose=false tag=[] args=[]`)
}

func TestFrameworkConfigFile(t *testing.T) {
	conf := writeConfig(t, `
# a comment
data-dir = /from/config
count=7
verbose = true
tag = a
tag = "b c "
`)
	want := `data-dir=/from/config count=7 verbose=true tag=[a b c ] args=[]`
	wantOutput(t, framework(t, nil, "echo", "--config", conf), want)
	wantOutput(t, framework(t, []string{"RUNNEL_CONFIG=" + conf}, "echo"), want)
	// --config on the command line wins over RUNNEL_CONFIG.
	other := writeConfig(t, "count = 8\n")
	wantOutput(t, framework(t, []string{"RUNNEL_CONFIG=" + conf}, "echo", "--config="+other), `data-dir=./data count=8 verbose=false tag=[] args=[]`)
}

func TestFrameworkPrecedence(t *testing.T) {
	conf := writeConfig(t, "data-dir = /from/config\ncount = 7\nverbose = true\n")
	env := []string{"RUNNEL_DATA_DIR=/from/env", "RUNNEL_COUNT=5", "RUNNEL_CONFIG=" + conf}
	// command line > environment > config file > default
	wantOutput(t, framework(t, env, "echo", "--count", "9"), `data-dir=/from/env count=9 verbose=true tag=[] args=[]`)
	// A flag given on the command line is not added to by the environment.
	wantOutput(t, framework(t, []string{"RUNNEL_TAG=env"}, "echo", "--tag", "cli"), `data-dir=./data count=1 verbose=false tag=[cli] args=[]`)
}

func TestFrameworkPositionalArguments(t *testing.T) {
	wantOutput(t, framework(t, nil, "echo", "a", "--count", "3", "b", "--", "--verbose", "c"),
		`data-dir=./data count=3 verbose=false tag=[] args=["a" "b" "--verbose" "c"]`)
	wantOutput(t, framework(t, nil, "group", "leaf", "world", "--greeting=hi"), "hi world")
	wantUsageError(t, framework(t, nil, "group", "leaf"), "runnel group leaf: missing NAME (see 'runnel group leaf --help')")
	wantUsageError(t, framework(t, nil, "group", "leaf", "a", "b"), `runnel group leaf: unexpected argument "b"`)
}

func TestFrameworkBadUsage(t *testing.T) {
	conf := writeConfig(t, "count = 7\nnope = 1\n")
	badLine := writeConfig(t, "count 7\n")
	badValue := writeConfig(t, "count = seven\n")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"echo", "--nope"}, "runnel echo: flag provided but not defined: -nope"},
		{"bad flag value", nil, []string{"echo", "--count", "x"}, `runnel echo: invalid value "x" for flag -count`},
		{"missing flag value", nil, []string{"echo", "--count"}, "runnel echo: flag needs an argument: -count"},
		{"bad environment value", []string{"RUNNEL_COUNT=x"}, []string{"echo"}, `runnel echo: invalid value "x" for RUNNEL_COUNT`},
		{"unknown config key", nil, []string{"echo", "--config", conf}, `line 2: unknown key "nope"`},
		{"bad config line", nil, []string{"echo", "--config", badLine}, "line 1: want key = value"},
		{"bad config value", nil, []string{"echo", "--config", badValue}, `line 1: invalid value "seven" for count`},
		{"missing config file", nil, []string{"echo", "--config", filepath.Join(t.TempDir(), "none")}, "no such file or directory"},
		{"unknown command", nil, []string{"ehco"}, `runnel: unknown command "ehco" (see 'runnel --help')`},
		{"unknown nested command", nil, []string{"group", "lef"}, `runnel group: unknown command "lef"`},
		{"missing command", nil, nil, "runnel: missing command"},
		{"missing nested command", nil, []string{"group"}, "runnel group: missing command"},
		{"flag on a group", nil, []string{"--verbose", "echo"}, "runnel: unknown flag --verbose"},
		{"help for an unknown command", nil, []string{"help", "nope"}, `runnel: unknown command "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantUsageError(t, framework(t, tc.env, tc.args...), tc.want)
		})
	}
}

func TestFrameworkRunError(t *testing.T) {
	r := framework(t, nil, "fail")
	if r.code != exitFailure || r.stdout != "" || r.stderr != "runnel fail: first line; second line\n" {
		t.Errorf("got exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
	}
}

func TestFrameworkHelp(t *testing.T) {
	for _, args := range [][]string{{"echo", "--help"}, {"echo", "-h"}, {"echo", "a", "--help"}, {"help", "echo"}} {
		r := framework(t, []string{"RUNNEL_COUNT=x"}, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, want := range []string{
			"Usage: runnel echo [flags] [ARG...]\n",
			"  --data-dir string\n        where data lives (default ./data) [$RUNNEL_DATA_DIR]\n",
			"  --count int\n        how many (default 1) [$RUNNEL_COUNT]\n",
			"  --verbose\n        say more [$RUNNEL_VERBOSE]\n",
			"  --tag value\n        a tag (repeatable) [$RUNNEL_TAG]\n",
			"  --config FILE\n",
			"  -h, --help\n",
			`"name = value"`,
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, r.stdout)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := framework(t, nil, args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage: runnel <command> [arguments]\n") ||
			!strings.Contains(r.stdout, "  echo   print the resolved flags and arguments\n") || !strings.Contains(r.stdout, "  group  a group of commands\n") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %q", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"group", "--help"}, {"help", "group"}} {
		r := framework(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: runnel group <command> [arguments]\n") || !strings.Contains(r.stdout, "  leaf  a nested command\n") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := framework(t, nil, "help", "group", "leaf")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: runnel group leaf [flags] NAME\n") {
		t.Errorf("help group leaf: exit %d\nstdout: %s", r.code, r.stdout)
	}
}
