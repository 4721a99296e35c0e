package faultharness

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleSameSeedSameFaults(t *testing.T) {
	o := ScheduleOptions{Brokers: 3, Partitions: 4, Duration: time.Minute}
	a, err := NewSchedule(42, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSchedule(42, o)
	c, _ := NewSchedule(43, o)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 gave two schedules:\n%s\n%s", a, b)
	}
	if reflect.DeepEqual(a.Faults, c.Faults) {
		t.Fatalf("seeds 42 and 43 gave the same schedule:\n%s", a)
	}
	if len(a.Faults) < 5 {
		t.Fatalf("a minute of faults holds only %d:\n%s", len(a.Faults), a)
	}
}

// Every round hits at most a minority less one of the brokers, distinct
// fixed brokers, ends within the duration, and is followed by a healthy gap.
func TestScheduleKeepsProgressPossible(t *testing.T) {
	for _, brokers := range []int{3, 5} {
		o := ScheduleOptions{Brokers: brokers, Partitions: 6, Duration: 70 * time.Second}
		kinds := map[FaultKind]bool{}
		leaders := 0
		for seed := uint64(1); seed <= 50; seed++ {
			s, err := NewSchedule(seed, o)
			if err != nil {
				t.Fatal(err)
			}
			var prevEnd time.Duration
			for _, round := range s.Rounds() {
				if len(round) > MaxFaultsAtOnce(brokers) {
					t.Fatalf("seed %d: %d faults at once on %d brokers:\n%s", seed, len(round), brokers, s)
				}
				if gap := round[0].At - prevEnd; gap < time.Second {
					t.Fatalf("seed %d: only %v healthy before the round at %v:\n%s", seed, gap, round[0].At, s)
				}
				fixed := map[int]bool{}
				nLeader := 0
				for _, f := range round {
					kinds[f.Kind] = true
					if f.Target.Leader {
						nLeader++
						leaders++
						if f.Target.Partition < 0 || f.Target.Partition >= 6 {
							t.Fatalf("seed %d: leader of partition %d", seed, f.Target.Partition)
						}
					} else {
						if fixed[f.Target.Broker] || f.Target.Broker < 1 || f.Target.Broker > brokers {
							t.Fatalf("seed %d: bad or repeated broker %d in a round:\n%s", seed, f.Target.Broker, s)
						}
						fixed[f.Target.Broker] = true
					}
					if f.For < 2*time.Second && f.At+f.For != o.Duration || f.At+f.For > o.Duration {
						t.Fatalf("seed %d: fault %s out of bounds", seed, f)
					}
					prevEnd = max(prevEnd, f.At+f.For)
				}
				if nLeader > 1 {
					t.Fatalf("seed %d: %d leader targets in one round", seed, nLeader)
				}
			}
		}
		if len(kinds) != int(numFaultKinds) || leaders == 0 {
			t.Fatalf("%d brokers, 50 seeds: kinds %v, %d leader targets", brokers, kinds, leaders)
		}
	}
}

func TestScheduleOptionsValidate(t *testing.T) {
	for _, o := range []ScheduleOptions{
		{Brokers: 2},
		{Brokers: 3, MinFault: 5 * time.Second, MaxFault: time.Second},
		{Brokers: 3, MinHeal: 5 * time.Second, MaxHeal: time.Second},
		{Brokers: 3, Kinds: []FaultKind{numFaultKinds}},
	} {
		if _, err := NewSchedule(1, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestScheduleOnlyChosenKinds(t *testing.T) {
	s, err := NewSchedule(7, ScheduleOptions{Brokers: 3, Kinds: []FaultKind{Pause, Slow}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Faults {
		if f.Kind != Pause && f.Kind != Slow {
			t.Fatalf("fault %s not among the chosen kinds", f)
		}
		if f.Kind == Slow && f.Shaping.Latency == 0 {
			t.Fatalf("slow fault without latency: %s", f)
		}
	}
}
