package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/raftmetatest"
)

// stallStore is the broker's store, but the open of one partition waits,
// once, until released: a log recovery that takes its time.
type stallStore struct {
	logStore
	tp      commitlog.TopicPartition
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	undo    sync.Once
}

func (s *stallStore) Open(tp commitlog.TopicPartition, opts commitlog.Options) (*commitlog.Log, error) {
	if tp == s.tp {
		s.once.Do(func() {
			close(s.entered)
			<-s.release
		})
	}
	return s.logStore.Open(tp, opts)
}

// Release lets the stalled open go on; it may be called again.
func (s *stallStore) Release() { s.undo.Do(func() { close(s.release) }) }

// TestSlowOpenBlocksNoOtherPartition keeps the open of a new partition busy
// and checks that the broker serves the partitions it has meanwhile:
// partitionFor of an open partition returns at once, and the opening one is
// answered NOT_LEADER_OR_FOLLOWER (the client retries) until it is open.
func TestSlowOpenBlocksNoOtherPartition(t *testing.T) {
	m, err := raftmetatest.New(raftmetatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{BrokerID: 1, DataDir: t.TempDir(), Member: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallStore{logStore: b.store, tp: commitlog.TopicPartition{Topic: "slow", Partition: 0},
		entered: make(chan struct{}), release: make(chan struct{})}
	b.store = stall
	b.Start()
	defer b.Close()
	defer stall.Release() // before Close, should the test fail

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	create := func(name string) {
		t.Helper()
		if _, err := m.CreateTopic(ctx, controller.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 1}); err != nil {
			t.Fatal(err)
		}
	}
	create("fast")
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		_, err := b.partitionFor("fast", 0)
		return err
	})
	create("slow")
	select {
	case <-stall.entered:
	case <-ctx.Done():
		t.Fatal("the broker never opened the new partition")
	}

	testwait.Returns(t, 10*time.Second, "partitionFor of an open partition while another opens", func() {
		if _, err := b.partitionFor("fast", 0); err != nil {
			t.Errorf("open partition: %v", err)
		}
		if _, err := b.partitionFor("slow", 0); !errors.Is(err, errNotLeader) {
			t.Errorf("opening partition: %v, want NOT_LEADER_OR_FOLLOWER", err)
		}
	})
	stall.Release()
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, err := b.partitionFor("slow", 0); err != nil {
			return fmt.Errorf("partition opened after the stall: %w", err)
		}
		return nil
	})
}
