package loadgen

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A real line, with utime 1234 and stime 56 ticks, and a command name
	// holding a space and parentheses.
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 1234 56 0 0 20 0 9 0 1000 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	d, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1290 * 10 * time.Millisecond; d != want {
		t.Fatalf("parseProcStat = %v, want %v", d, want)
	}
	for name, bad := range map[string]string{
		"no command name":    "4242 cmd S 1 2 3",
		"too few fields":     "4242 (cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 1234",
		"utime not a number": "4242 (cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 x 56 0 0",
		"stime negative":     "4242 (cmd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 1 -5 0 0",
	} {
		if d, err := parseProcStat(bad); err == nil {
			t.Errorf("%s: parsed %q as %v", name, bad, d)
		} else if !strings.Contains(err.Error(), "unexpected /proc stat format") {
			t.Errorf("%s: error %q does not say what is wrong", name, err)
		}
	}
}

func TestProcessCPUOfThisProcess(t *testing.T) {
	// /proc and getrusage count the same process: /proc rounds down to
	// ticks, so it is never ahead of getrusage read after it.
	viaProc, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, err := processCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	if viaProc > self {
		t.Fatalf("/proc says %v, getrusage then %v", viaProc, self)
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Fatal("CPU of a process that does not exist: no error")
	}
}
