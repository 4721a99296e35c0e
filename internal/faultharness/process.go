package faultharness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one run-and-rerun command of the runnel binary (a broker or a
// gateway) with a fixed command line. Its output goes to a log file kept
// across restarts. Signals go to its PID only.
type Process struct {
	Name string
	bin  string
	args []string
	log  string // path of the output file

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current run exits
	stopped bool          // SIGSTOPped
}

// NewProcess describes a process; Start runs it. Its output is appended to
// logPath.
func NewProcess(name, bin, logPath string, args ...string) *Process {
	return &Process{Name: name, bin: bin, args: args, log: logPath}
}

// Args is the command line after the binary.
func (p *Process) Args() []string { return append([]string(nil), p.args...) }

// Start runs the process; it must not be running.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return fmt.Errorf("%s: start: already running as pid %d", p.Name, p.cmd.Process.Pid)
	}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	fmt.Fprintf(out, "==== %s start %s %s\n", time.Now().Format(time.RFC3339Nano), filepath.Base(p.bin), strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		out.Close()
		close(done)
	}()
	p.cmd, p.done, p.stopped = cmd, done, false
	return nil
}

func (p *Process) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Running says whether the process is alive (paused counts as alive).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

// Done is closed when the current run exits.
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// signal sends sig to the running process.
func (p *Process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return fmt.Errorf("%s: %v: not running", p.Name, sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", p.Name, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT, syscall.SIGKILL:
		p.stopped = false
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to exit. Killing a process
// that is not running does nothing.
func (p *Process) Kill() {
	if p.signal(syscall.SIGKILL) == nil {
		<-p.Done()
	}
}

// Pause sends SIGSTOP.
func (p *Process) Pause() error { return p.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT.
func (p *Process) Resume() error { return p.signal(syscall.SIGCONT) }

// ErrStillRunning is returned by Terminate when the process outlived the
// grace period; it was then killed.
var ErrStillRunning = errors.New("still running after SIGTERM")

// Terminate sends SIGTERM (resuming a paused process first) and waits up to
// grace for the exit, then kills it and returns ErrStillRunning. It returns
// how long the exit took.
func (p *Process) Terminate(grace time.Duration) (time.Duration, error) {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		if err := p.Resume(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if err := p.signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.Done():
		return time.Since(start), nil
	case <-time.After(grace):
		p.Kill()
		return time.Since(start), fmt.Errorf("%s: %w for %v", p.Name, ErrStillRunning, grace)
	}
}

// ExitCode is the exit code of the last run, or -1 while running or killed
// by a signal.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.runningLocked() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Output returns the last n bytes of everything the process printed, over
// all its runs.
func (p *Process) Output(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", p.log, err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
