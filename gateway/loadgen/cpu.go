package loadgen

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the user+system CPU time a process has used: this
// process when pid is 0, else the process pid (read from /proc).
func processCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	d, err := parseProcStat(string(b))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return d, nil
}

// parseProcStat returns utime+stime from the text of /proc/PID/stat.
func parseProcStat(s string) (time.Duration, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its last closing parenthesis are fixed: utime and
	// stime are fields 14 and 15.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat format: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat format: %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("unexpected /proc stat format: utime %q, stime %q: %w", f[11], f[12], err)
	}
	return time.Duration(ut+st) * (time.Second / clockTicks), nil
}

// cpuMeter measures the CPU a process uses over an interval.
type cpuMeter struct {
	pid   int
	start time.Duration
	err   error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.start, m.err = processCPU(pid)
	return m
}

// used returns the CPU time since start, or 0 when it cannot be read.
func (m *cpuMeter) used() time.Duration {
	if m.err != nil {
		return 0
	}
	now, err := processCPU(m.pid)
	if err != nil {
		return 0
	}
	return now - m.start
}
