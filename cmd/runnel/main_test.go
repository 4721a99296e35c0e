package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// modeEnv makes the test binary act as a command line program instead of
// running tests, so that tests run real processes and check their output and
// exit codes: "runnel" runs the real command tree as main does, "framework"
// the test tree of commands_test.go, corruptionNodeMode the golden
// directories' writer of the corruption matrix.
const modeEnv = "GO_TEST_RUNNEL_CLI_MODE"

func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "runnel":
		os.Exit(runMain(os.Args[1:]))
	case "framework":
		os.Exit(run(context.Background(), frameworkTree(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
	case corruptionNodeMode:
		os.Exit(runCorruptionNode(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// result is what a process run by cli printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// cliTimeout bounds one command run by cli: a command that should have
// exited (say, a refusal to start) fails the test instead of hanging it.
const cliTimeout = 2 * time.Minute

// cli runs the test binary in mode with args and, on top of a copy of the
// test's environment without any RUNNEL_ variable, the given KEY=value env.
func cli(t *testing.T, mode string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, modeEnv+"="+mode)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("run %v: still running after %v\nstderr: %s", args, cliTimeout, res.stderr)
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	return res
}

// runnel runs the real command tree.
func runnel(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return cli(t, "runnel", env, args...)
}

// wantUsageError checks that r is a bad-usage exit: code 2, nothing on stdout
// and exactly one line on stderr that contains want.
func wantUsageError(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") || !strings.Contains(r.stderr, want) {
		t.Errorf("want exit 2 with one line on stderr containing %q; got exit %d\nstdout: %q\nstderr: %q", want, r.code, r.stdout, r.stderr)
	}
}
