package loadgen

import (
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
	// The command name (field 2) may hold spaces; fields after its closing
	// parenthesis are fixed: utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("process %d: unexpected /proc stat format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("process %d: unexpected /proc stat format", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
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
