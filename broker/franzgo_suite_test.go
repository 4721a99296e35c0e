package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/group"
)

// franzGoGroupTests are franz-go's own integration tests of consumer
// groups that must pass against Runnel.
const franzGoGroupTests = "^(TestGroupSimple|TestGroupETL|TestIssue523|TestIssue1034|TestConsumeRegex)$"

// TestFranzGoSuite runs franz-go's own pkg/kgo integration tests (the
// module version in go.mod, copied from the module cache) against an
// in-process broker through KGO_SEEDS: by default the consumer group ones
// with few records; RUNNEL_KGO_RUN picks other tests (e.g. "." for the
// whole suite, whose counts it logs, and whose failures it does not fail
// on) and RUNNEL_KGO_RECORDS another record count. A group test that
// fails runs once more alone (see below). It skips only when
// franz-go's source is not in the module cache (`make test-deps` puts it
// there).
func TestFranzGoSuite(t *testing.T) {
	run := os.Getenv("RUNNEL_KGO_RUN")
	if run == "" {
		run = franzGoGroupTests
	}
	records := os.Getenv("RUNNEL_KGO_RECORDS")
	if records == "" {
		records = "500"
	}
	dir := franzGoTestModule(t)
	c := brokertest.Start(t, 1, brokertest.Options{Groups: group.Config{NumPartitions: 10, InitialRebalanceDelay: 100 * time.Millisecond}})
	res := runFranzGoTests(t, dir, c.Addrs()[0], run, records)
	if run != franzGoGroupTests {
		return
	}
	// Only the KIP-848 variants may skip (Runnel speaks the classic
	// protocol); a skipped classic one would pass without testing.
	if len(res.skippedClassic) > 0 {
		t.Fatalf("franz-go's group tests skipped %v; output:\n%s", res.skippedClassic, tail(res.out, 4000))
	}
	if res.err == nil && res.counts["PASS"] == 5 {
		return
	}
	// franz-go's group tests race many consumers through rebalances on
	// timers; on a loaded machine one of them occasionally fails in a way
	// it does not against Kafka either. Each failed test runs once more,
	// alone; the first failure's errors stay in the log, and a second
	// failure fails.
	t.Logf("franz-go's group tests: %v, %d of 5 passed, failed %v; their errors:\n%s\nrunning the failed ones again", res.err, res.counts["PASS"], res.failed, testErrorLines(res.out, 60))
	if len(res.failed) == 0 {
		t.Fatalf("franz-go's group tests failed without a failed test (%v); output:\n%s", res.err, tail(res.out, 4000))
	}
	again := runFranzGoTests(t, dir, c.Addrs()[0], "^("+strings.Join(res.failed, "|")+")$", records)
	if again.err != nil || again.counts["PASS"] != len(res.failed) {
		t.Fatalf("franz-go's group tests failed again: %v, failed %v; their errors:\n%s\noutput:\n%s", again.err, again.failed, testErrorLines(again.out, 60), tail(again.out, 4000))
	}
}

// franzGoRun is the outcome of one run of franz-go's tests.
type franzGoRun struct {
	err                    error          // go test's
	counts                 map[string]int // top-level tests by PASS, FAIL, SKIP
	failed, skippedClassic []string       // top-level failures; skipped tests other than KIP-848 ones
	out                    string         // go test -v's output
}

// runFranzGoTests runs franz-go's pkg/kgo tests matching run, from the
// module copy in dir, against the broker at addr, and logs their counts
// and timings.
func runFranzGoTests(t *testing.T, dir, addr, run, records string) franzGoRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run", run, "./pkg/kgo")
	cmd.Dir = dir
	cmd.Env = append(offlineGoEnv(), "KGO_SEEDS="+addr, "KGO_TEST_RF=1", "KGO_TEST_RECORDS="+records)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	res := franzGoRun{err: cmd.Run(), counts: map[string]int{}}
	res.out = buf.String()
	var timings []string
	// Top-level tests are counted; subtests (franz-go's run in parallel,
	// so their parents take 0s) show what ran and for how long.
	for _, m := range regexp.MustCompile(`(?m)^(\s*)--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+s)\)`).FindAllStringSubmatch(res.out, -1) {
		if m[1] == "" {
			res.counts[m[2]]++
			if m[2] == "FAIL" {
				res.failed = append(res.failed, m[3])
			}
		}
		timings = append(timings, m[3]+" "+m[2]+" "+m[4])
		if m[2] == "SKIP" && !strings.Contains(m[3], "848") {
			res.skippedClassic = append(res.skippedClassic, m[3])
		}
	}
	t.Logf("franz-go pkg/kgo -run %q against Runnel: %d passed, %d failed %v, %d skipped (go test: %v)", run, res.counts["PASS"], res.counts["FAIL"], res.failed, res.counts["SKIP"], res.err)
	t.Logf("%s", strings.Join(timings, "; "))
	return res
}

// offlineGoEnv is the environment for a go command that must build only
// from the module cache: the modules of Runnel's own build list.
func offlineGoEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GOPROXY=off")
}

// franzGoTestModule copies franz-go's module source (the version in
// go.mod) from the module cache into a temporary directory, requiring the
// versions of its dependencies that Runnel's build uses, so that its tests
// build from the module cache alone. It skips the test when the source is
// not there.
func franzGoTestModule(t *testing.T) string {
	t.Helper()
	goList := func(dir string, args ...string) ([]byte, error) {
		cmd := exec.Command("go", append([]string{"list", "-m"}, args...)...)
		cmd.Dir, cmd.Env = dir, offlineGoEnv()
		return cmd.Output()
	}
	out, err := goList("", "-f", "{{.Dir}}", "github.com/twmb/franz-go")
	src := strings.TrimSpace(string(out))
	if err != nil || src == "" {
		t.Skipf("franz-go's source is not in the module cache (run `make test-deps`): %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "pkg", "kgo")); err != nil {
		t.Skipf("franz-go's source is not in the module cache (run `make test-deps`): %v", err)
	}
	dst := filepath.Join(t.TempDir(), "franz-go")
	for _, args := range [][]string{{"cp", "-r", src, dst}, {"chmod", "-R", "u+w", dst}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	var mod struct{ Require []struct{ Path string } }
	editCmd := exec.Command("go", "mod", "edit", "-json")
	editCmd.Dir, editCmd.Env = dst, offlineGoEnv()
	out, err = editCmd.Output()
	if err != nil {
		t.Fatalf("read franz-go's go.mod: %v", err)
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatalf("decode franz-go's go.mod: %v", err)
	}
	for _, r := range mod.Require {
		out, err := goList("", "-f", "{{.Path}}@{{.Version}}", r.Path)
		if err != nil {
			t.Fatalf("version of %s in Runnel's build: %v", r.Path, err)
		}
		req := exec.Command("go", "mod", "edit", "-require="+strings.TrimSpace(string(out)))
		req.Dir, req.Env = dst, offlineGoEnv()
		if out, err := req.CombinedOutput(); err != nil {
			t.Fatalf("require %s: %v %s", r.Path, err, out)
		}
	}
	gomod, err := goList("", "-f", "{{.GoMod}}")
	if err != nil {
		t.Fatalf("find Runnel's go.mod: %v", err)
	}
	sums, err := os.ReadFile(filepath.Join(filepath.Dir(strings.TrimSpace(string(gomod))), "go.sum"))
	if err != nil {
		t.Fatalf("read Runnel's go.sum: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "go.sum"), sums, 0o644); err != nil {
		t.Fatalf("write go.sum: %v", err)
	}
	return dst
}

// testErrorLines returns up to n lines of a go test output that a test's
// t.Error/t.Fatal wrote (file_test.go:line: message) or its consumers
// reported (testConsumer sendErr ...), with the subtest
// headers (=== NAME) before them, so a failure deep in a long verbose log
// is shown.
func testErrorLines(out string, n int) string {
	errLine := regexp.MustCompile(`^\s+(\w+_test\.go:\d+: |testConsumer sendErr )`)
	var lines []string
	name := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "=== NAME") || strings.HasPrefix(l, "=== RUN") {
			name = l
			continue
		}
		if !errLine.MatchString(l) || len(lines) >= n {
			continue
		}
		if name != "" {
			lines = append(lines, name)
			name = ""
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
