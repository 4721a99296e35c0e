package loadgen

import (
	"context"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A pacer releases a fixed number of events at a fixed rate, each at its
// own slot: start + seq/rate.
//
// Go's timers cannot do that below a millisecond: when a program has
// nothing else to run, the runtime waits for its next timer in
// epoll_pwait, whose timeout is in whole milliseconds, so a ticker or a
// sleep of 100 or 500 µs fires after about 1.1 ms. A publisher paced that
// way at 2,000 events/s sends bursts of two every millisecond, and at
// 10,000/s bursts of ten; the later events of a burst queue behind the
// earlier ones in the gateway, and the run measures the bursts rather than
// the rate. The pacer instead sleeps in nanosleep(2) on a thread of its
// own whose timer slack is 1 µs: it wakes within tens of microseconds of
// each slot. It calls nanosleep without telling the runtime (a raw system
// call, about half the CPU of one the scheduler tracks), so while it sleeps
// it holds one of the runtime's processors; run adds one to GOMAXPROCS
// for its run so that the rest of the load tool keeps as many as before.
type pacer struct {
	rate  int
	total int
	start time.Time
}

// maxRawSleep bounds one raw sleep: a stop-the-world pause of the
// garbage collector waits for the sleeping pacer to wake.
const maxRawSleep = time.Millisecond

// slot is one event the pacer released: its sequence number and the time
// it was due.
type slot struct {
	seq int
	due time.Time
}

// at is the time event seq is due, rounded down to the nanosecond.
func (p *pacer) at(seq int) time.Time {
	r := int64(p.rate)
	n := int64(seq)
	return p.start.Add(time.Duration(n/r)*time.Second + time.Duration(n%r*int64(time.Second)/r))
}

// dueBy is how many events are due at elapsed since start: those whose
// slot is not after it. Integer arithmetic, so that an event dueBy counts
// is never due (by at) after elapsed.
func (p *pacer) dueBy(elapsed time.Duration) int {
	if elapsed < 0 {
		return 0
	}
	r := int64(p.rate)
	sec, ns := int64(elapsed/time.Second), int64(elapsed%time.Second)
	n := sec*r + ns*r/int64(time.Second) + 1
	return int(min(n, int64(p.total)))
}

// run sends every event to out at its slot, blocking while no receiver is
// free (an event released late is still sent, at once), and closes out
// when all were sent or ctx ended. It locks its goroutine to a thread for
// its life, which the runtime then ends: the thread's timer slack is never
// seen by other goroutines.
func (p *pacer) run(ctx context.Context, out chan<- slot) {
	defer close(out)
	runtime.LockOSThread()
	// 1 µs instead of the default 50 µs; without it the pacer is merely
	// later, so a failure is not worth reporting.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	addProc(1)
	defer addProc(-1)

	p.start = time.Now()
	for seq := 0; seq < p.total; {
		for due := p.dueBy(time.Since(p.start)); seq < due; seq++ {
			select {
			case out <- slot{seq: seq, due: p.at(seq)}:
			case <-ctx.Done():
				return
			}
		}
		if seq == p.total || ctx.Err() != nil {
			return
		}
		sleepUntil(p.at(seq))
	}
}

// sleepUntil returns at t or within tens of microseconds after it.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d > 2*maxRawSleep {
		// Long waits (rates below 500/s) park the goroutine, keeping
		// the last stretch for nanosleep.
		time.Sleep(d - maxRawSleep)
		d = time.Until(t)
	}
	for d > 0 {
		ts := unix.NsecToTimespec(int64(min(d, maxRawSleep)))
		// EINTR only shortens the sleep; the loop sleeps the rest.
		_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		d = time.Until(t)
	}
}

// procsMu serialises the read-modify-write of GOMAXPROCS by pacers that
// run at the same time: each adds one and takes it back.
var procsMu sync.Mutex

// addProc changes GOMAXPROCS by delta (+1 or -1).
func addProc(delta int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + delta)
}
