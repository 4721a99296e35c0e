package broker_test

import (
	"bytes"
	"context"
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
// in-process broker through KGO_SEEDS. It is slow, so it runs only with
// RUNNEL_KGO_SUITE=1; RUNNEL_KGO_RUN picks other tests than the group
// ones (e.g. "." for the whole suite, whose counts it logs).
func TestFranzGoSuite(t *testing.T) {
	if os.Getenv("RUNNEL_KGO_SUITE") != "1" {
		t.Skip("set RUNNEL_KGO_SUITE=1 to run franz-go's integration tests against a broker")
	}
	run := os.Getenv("RUNNEL_KGO_RUN")
	if run == "" {
		run = franzGoGroupTests
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/twmb/franz-go").Output()
	if err != nil {
		t.Fatalf("find franz-go in the module cache: %v", err)
	}
	src := strings.TrimSpace(string(out))
	dst := filepath.Join(t.TempDir(), "franz-go")
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", src, err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dst).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	c := brokertest.Start(t, 1, brokertest.Options{Groups: group.Config{NumPartitions: 10, InitialRebalanceDelay: 100 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run", run, "./pkg/kgo")
	cmd.Dir = dst
	cmd.Env = append(os.Environ(), "KGO_SEEDS="+c.Addrs()[0], "KGO_TEST_RF=1", "KGO_TEST_RECORDS=5000")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	runErr := cmd.Run()
	counts := map[string]int{}
	var failed []string
	for _, m := range regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): (\S+)`).FindAllStringSubmatch(buf.String(), -1) {
		counts[m[1]]++
		if m[1] == "FAIL" {
			failed = append(failed, m[2])
		}
	}
	t.Logf("franz-go pkg/kgo -run %q against Runnel: %d passed, %d failed %v, %d skipped", run, counts["PASS"], counts["FAIL"], failed, counts["SKIP"])
	if runErr != nil && run == franzGoGroupTests {
		os.WriteFile(filepath.Join(os.TempDir(), "runnel-kgo-suite.log"), buf.Bytes(), 0o644)
		t.Fatalf("franz-go's group tests failed (%v): %v; output in %s", runErr, failed, filepath.Join(os.TempDir(), "runnel-kgo-suite.log"))
	}
}
