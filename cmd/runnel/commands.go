package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Exit codes of every command.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad command line, environment or config file
)

// envPrefix starts the environment variable of every flag: --data-dir reads
// RUNNEL_DATA_DIR.
const envPrefix = "RUNNEL_"

// configFlag names the flag every leaf command has for reading a config file.
const configFlag = "config"

// command is one node of the command tree: a group, which has subcommands and
// nothing else, or a leaf, which has flags, positional arguments and a run
// function. A command adds itself to the tree in main.go.
type command struct {
	name    string
	summary string // one line, shown in the parent's command list
	// args is the synopsis of the positional arguments, such as "DIR".
	args string
	// help is the description shown by --help, after the usage line.
	help string
	// minArgs and maxArgs bound the positional arguments; maxArgs < 0 means
	// no upper bound.
	minArgs, maxArgs int
	// flags registers the command's flags on fs. The framework adds --config
	// and -h/--help itself.
	flags func(fs *flag.FlagSet)
	// run does the work once flags are resolved. An error is printed as one
	// line and exits 1, or 2 for a *usageError; an exitError exits with its
	// code after the command has said why.
	run  func(ctx context.Context, inv *invocation) error
	subs []*command
}

// invocation is what a leaf command runs with.
type invocation struct {
	args   []string // positional arguments
	stdout io.Writer
	stderr io.Writer
}

// usageError is a bad command line, environment variable or config file: the
// command did not start. It exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError ends a command with a chosen exit code and a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// run executes the command line args (without the program name) against the
// tree rooted at root and returns the process exit code. Errors go to stderr
// as a single line prefixed with the command path; help goes to stdout.
// lookupEnv is os.LookupEnv outside tests.
func run(ctx context.Context, root *command, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	path, c, rest, err := resolve(root, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, path, c)
		return exitOK
	}
	if err == nil {
		err = runLeaf(ctx, path, c, rest, stdout, stderr, lookupEnv)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, path, c)
			return exitOK
		}
	}
	if err == nil {
		return exitOK
	}
	name := strings.Join(path, " ")
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, msg, name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, msg)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// resolve walks args down the tree to a leaf. It returns the command path
// (names from the root), the command reached and the arguments left for it;
// flag.ErrHelp when help was asked for the command reached.
func resolve(root *command, args []string) (path []string, c *command, rest []string, err error) {
	c, path = root, []string{root.name}
	for len(c.subs) > 0 {
		if len(args) == 0 {
			return path, c, nil, usagef("missing command")
		}
		a := args[0]
		switch {
		case isHelpFlag(a):
			return path, c, nil, flag.ErrHelp
		case a == "--version" && c == root && c.sub("version") != nil:
			// "runnel --version" is "runnel version".
			return resolve(root, append([]string{"version"}, args[1:]...))
		case a == "help" && c == root:
			// "runnel help log dump" is "runnel log dump --help".
			p, hc, _, err := resolve(root, append(args[1:len(args):len(args)], "--help"))
			if err == nil && len(hc.subs) == 0 {
				err = flag.ErrHelp
			}
			return p, hc, nil, err
		case strings.HasPrefix(a, "-"):
			return path, c, nil, usagef("unknown flag %s", a)
		}
		sub := c.sub(a)
		if sub == nil {
			return path, c, nil, usagef("unknown command %q", a)
		}
		c, path, args = sub, append(path, sub.name), args[1:]
	}
	return path, c, args, nil
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// newFlagSet returns the leaf's flag set, with --config added and the flag
// package's own printing turned off: errors and help are printed by run.
func (c *command) newFlagSet(path []string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if c.flags != nil {
		c.flags(fs)
	}
	fs.String(configFlag, "", "read flag values from `FILE` (see below)")
	return fs
}

// runLeaf resolves the leaf's flags (command line, then environment, then
// config file) and runs it.
func runLeaf(ctx context.Context, path []string, c *command, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	fs := c.newFlagSet(path)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if err := applyEnvAndConfig(fs, lookupEnv); err != nil {
		return err
	}
	switch {
	case len(positional) < c.minArgs:
		return usagef("missing %s", c.args)
	case c.maxArgs >= 0 && len(positional) > c.maxArgs:
		return usagef("unexpected argument %q", positional[c.maxArgs])
	}
	return c.run(ctx, &invocation{args: positional, stdout: stdout, stderr: stderr})
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments ("dump DIR --verify" as well as "dump --verify DIR"), as users of
// most command line tools expect; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// envName is the environment variable a flag reads: RUNNEL_ and the flag name
// in upper case with dashes as underscores.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnvAndConfig sets every flag not given on the command line from its
// environment variable or, failing that, from the config file named by
// --config or RUNNEL_CONFIG. Empty environment variables count as unset.
func applyEnvAndConfig(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	configPath := fs.Lookup(configFlag).Value.String()
	if !set[configFlag] {
		if v, ok := lookupEnv(envName(configFlag)); ok && v != "" {
			configPath = v
		}
	}
	var config []configEntry
	if configPath != "" {
		var err error
		if config, err = readConfig(configPath); err != nil {
			return err
		}
	}

	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == configFlag {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok && v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usagef("invalid value %q for %s: %v", v, envName(f.Name), e)
			}
			set[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	for _, e := range config {
		f := fs.Lookup(e.key)
		if f == nil || e.key == configFlag {
			return usagef("%s line %d: unknown key %q", configPath, e.line, e.key)
		}
		if set[e.key] {
			continue
		}
		if err := fs.Set(e.key, e.value); err != nil {
			return usagef("%s line %d: invalid value %q for %s: %v", configPath, e.line, e.value, e.key, err)
		}
	}
	return nil
}

// configEntry is one "key = value" line of a config file.
type configEntry struct {
	key, value string
	line       int
}

// readConfig reads a config file: one "key = value" per line, where key is a
// flag name without dashes; blank lines and lines starting with # are ignored;
// a value may be double-quoted (Go syntax) to keep surrounding spaces or to
// hold escapes. A key may repeat, which sets a repeatable flag again.
func readConfig(path string) ([]configEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("config file: %v", err)
	}
	defer f.Close()
	var entries []configEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, usagef("%s line %d: want key = value", path, n)
		}
		if strings.HasPrefix(value, `"`) {
			u, err := strconv.Unquote(value)
			if err != nil {
				return nil, usagef("%s line %d: bad quoted value %s", path, n, value)
			}
			value = u
		}
		entries = append(entries, configEntry{key: key, value: value, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("config file %s: %v", path, err)
	}
	return entries, nil
}

// printHelp prints the help of c, reached by path, to w.
func printHelp(w io.Writer, path []string, c *command) {
	name := strings.Join(path, " ")
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "Usage: %s <command> [arguments]\n\n", name)
		if c.help != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.help))
		}
		fmt.Fprintf(w, "Commands:\n")
		subs := append([]*command(nil), c.subs...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
		width := 0
		for _, s := range subs {
			width = max(width, len(s.name))
		}
		for _, s := range subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun '%s <command> --help' for the flags of a command.\n", name)
		return
	}
	usage := name + " [flags]"
	if c.args != "" {
		usage += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n", usage)
	if c.help != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.help))
	}
	fmt.Fprintf(w, "Flags:\n")
	c.newFlagSet(path).VisitAll(func(f *flag.Flag) {
		valueName, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if valueName != "" {
			fmt.Fprintf(w, " %s", valueName)
		}
		fmt.Fprintf(w, "\n        %s", usage)
		if !isZeroDefault(f) {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, " [$%s]\n", envName(f.Name))
	})
	fmt.Fprintf(w, "  -h, --help\n        show this help\n")
	fmt.Fprintf(w, `
Every flag can also be set by the environment variable shown in brackets, or in
the --config file. The command line wins over the environment, which wins over
the config file. The config file has one "name = value" per line, name being a
flag without its dashes (e.g. "verify = true"); blank lines and lines starting
with # are skipped; a value in double quotes may hold Go escapes.
`)
}

// isZeroDefault reports whether a flag's default is its type's zero value,
// which help leaves out.
func isZeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}
