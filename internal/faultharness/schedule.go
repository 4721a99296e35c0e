package faultharness

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FaultKind is one kind of fault a Schedule injects.
type FaultKind int

const (
	// Kill sends SIGKILL and restarts the broker when the fault ends.
	Kill FaultKind = iota
	// Pause sends SIGSTOP and SIGCONT when the fault ends.
	Pause
	// Isolate cuts the broker off from the other brokers both ways.
	Isolate
	// CutInbound lets the broker send to the others but not receive.
	CutInbound
	// CutOutbound lets the broker receive from the others but not send.
	CutOutbound
	// Slow delays and throttles every link of the broker (a slow follower,
	// or a slow leader).
	Slow
	// Restart stops the broker with SIGTERM (controlled shutdown) and starts
	// it again when the fault ends.
	Restart
	// Refuse closes the broker's connections to and from the other brokers
	// and refuses new ones (a fast-failing partition, where Isolate is a
	// silent one).
	Refuse
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"kill", "pause", "isolate", "cut-inbound", "cut-outbound", "slow", "restart", "refuse"}

func (k FaultKind) String() string {
	if k < 0 || k >= numFaultKinds {
		return fmt.Sprintf("fault(%d)", int(k))
	}
	return faultNames[k]
}

// Target says which broker a fault hits: a fixed id, or (Leader) the broker
// leading Partition of the workload's topic when the fault starts, so that
// faults hit leaders as often as followers.
type Target struct {
	Broker    int   // 1..N; 0 with Leader
	Leader    bool  // resolve to the current leader of Partition
	Partition int32 // with Leader
}

func (t Target) String() string {
	if t.Leader {
		return fmt.Sprintf("leader-of-p%d", t.Partition)
	}
	return fmt.Sprintf("broker-%d", t.Broker)
}

// Fault is one fault of a Schedule: Kind hits Target from At (since the
// schedule started) for For, then is healed.
type Fault struct {
	At, For time.Duration
	Kind    FaultKind
	Target  Target
	// Shaping is what Slow applies.
	Shaping Shaping
}

func (f Fault) String() string {
	s := fmt.Sprintf("%v+%v %s %s", f.At.Round(time.Millisecond), f.For.Round(time.Millisecond), f.Kind, f.Target)
	if f.Kind == Slow {
		s += fmt.Sprintf(" latency=%v bw=%dB/s", f.Shaping.Latency, f.Shaping.BytesPerSecond)
	}
	return s
}

// ScheduleOptions shape a generated Schedule. Zero values take defaults.
type ScheduleOptions struct {
	// Brokers is the cluster size (required, at least 3).
	Brokers int
	// Partitions of the workload's topic, for leader targets (default 1).
	Partitions int32
	// Duration is how long faults are injected (default 60 s); everything
	// is healed by then.
	Duration time.Duration
	// Kinds are the faults to choose from (default all).
	Kinds []FaultKind
	// MinFault, MaxFault bound one fault's length (default 2 s, 8 s);
	// MinHeal, MaxHeal the healthy gap after each round (default 1 s, 4 s).
	MinFault, MaxFault, MinHeal, MaxHeal time.Duration
}

func (o *ScheduleOptions) fill() {
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if len(o.Kinds) == 0 {
		for k := range numFaultKinds {
			o.Kinds = append(o.Kinds, k)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinFault, 2*time.Second)
	def(&o.MaxFault, 8*time.Second)
	def(&o.MinHeal, time.Second)
	def(&o.MaxHeal, 4*time.Second)
}

// Validate says what is wrong with the options, in plain words.
func (o ScheduleOptions) Validate() error {
	switch {
	case o.Brokers < 3:
		return fmt.Errorf("schedule: %d brokers: want at least 3, so a majority survives a fault", o.Brokers)
	case o.MinFault > o.MaxFault:
		return fmt.Errorf("schedule: MinFault %v above MaxFault %v", o.MinFault, o.MaxFault)
	case o.MinHeal > o.MaxHeal:
		return fmt.Errorf("schedule: MinHeal %v above MaxHeal %v", o.MinHeal, o.MaxHeal)
	}
	for _, k := range o.Kinds {
		if k < 0 || k >= numFaultKinds {
			return fmt.Errorf("schedule: unknown fault kind %d", int(k))
		}
	}
	return nil
}

// Schedule is a seeded plan of faults. Faults come in rounds: each round
// hits at most a minority less one of the brokers (one of 3, two of 5), so
// the metadata quorum and min.insync.replicas=2 stay reachable, on distinct
// brokers, all healed before a healthy gap and the next round. The same seed
// and options always give the same schedule.
type Schedule struct {
	Seed   uint64
	Faults []Fault
}

// NewSchedule generates the schedule of seed.
func NewSchedule(seed uint64, o ScheduleOptions) (*Schedule, error) {
	o.fill()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration {
		if hi <= lo {
			return lo
		}
		return lo + time.Duration(rng.Int64N(int64(hi-lo)))
	}
	maxAtOnce := MaxFaultsAtOnce(o.Brokers)
	s := &Schedule{Seed: seed}
	at := between(o.MinHeal, o.MaxHeal)
	for at+o.MinFault <= o.Duration {
		n := 1 + rng.IntN(maxAtOnce)
		used := map[int]bool{}
		leaderUsed := false
		roundEnd := at
		for range n {
			f := Fault{At: at, For: between(o.MinFault, o.MaxFault), Kind: o.Kinds[rng.IntN(len(o.Kinds))]}
			if f.At+f.For > o.Duration {
				f.For = o.Duration - f.At
			}
			// Half the faults hit a leader (one per round, since two leader
			// targets may resolve to the same broker), the rest a fixed broker.
			if !leaderUsed && rng.IntN(2) == 0 {
				leaderUsed = true
				f.Target = Target{Leader: true, Partition: rng.Int32N(o.Partitions)}
			} else {
				b := 1 + rng.IntN(o.Brokers)
				for used[b] {
					b = 1 + rng.IntN(o.Brokers)
				}
				used[b] = true
				f.Target = Target{Broker: b}
			}
			if f.Kind == Slow {
				f.Shaping = Shaping{Latency: between(20*time.Millisecond, 300*time.Millisecond), BytesPerSecond: []int{0, 256 << 10, 1 << 20}[rng.IntN(3)]}
			}
			s.Faults = append(s.Faults, f)
			roundEnd = max(roundEnd, f.At+f.For)
		}
		at = roundEnd + between(o.MinHeal, o.MaxHeal)
	}
	return s, nil
}

// MaxFaultsAtOnce is how many of n brokers a round may hit: a minority
// less one, so a majority stays for the metadata quorum and a partition of
// RF=3 keeps two replicas (min.insync.replicas=2) on most placements.
func MaxFaultsAtOnce(n int) int { return max(1, (n-1)/2) }

// Rounds groups the faults that start together.
func (s *Schedule) Rounds() [][]Fault {
	var out [][]Fault
	for i, f := range s.Faults {
		if i == 0 || f.At != s.Faults[i-1].At {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], f)
	}
	return out
}

func (s *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule seed %d, %d faults:", s.Seed, len(s.Faults))
	for _, f := range s.Faults {
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return b.String()
}

// SeedEnv names the environment variable that replays a seed.
const SeedEnv = "RUNNEL_SEED"

// Seed returns the seed to run: RUNNEL_SEED when set, otherwise fallback.
// It logs the seed, and on failure how to replay it.
func Seed(t testing.TB, fallback uint64) uint64 {
	t.Helper()
	seed := fallback
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer: %v", SeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with %s=%d go test -run '^%s$'", SeedEnv, seed, t.Name())
		}
	})
	return seed
}
