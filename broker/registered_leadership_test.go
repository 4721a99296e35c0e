package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestRestartedBrokerLeadsOnceRegistered: a restarted broker's image says
// it leads, at its previous incarnation's epoch, until the new process has
// registered; the controller then takes the leadership away and gives it
// back at a new epoch. Meanwhile the broker must not act as leader (Kafka's
// serves no client before it is registered and unfenced): in-process
// produces are refused and nothing is appended. Once registered it leads
// at the new epoch, and the records appended before the restart are all
// there.
func TestRestartedBrokerLeadsOnceRegistered(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("reg", 1, nil)
	b := c.Nodes[0].Broker
	if rp := localProduce(t, b, "reg", 0, -1, 5*time.Second, batchOf(t, "a", "b")); rp.ErrorCode != 0 {
		t.Fatalf("produce before the restart: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	before := partitionOf(t, c, "reg", 0).LeaderEpoch
	c.Stop(0)
	c.Restart(0)
	n := c.Nodes[0]
	checked := 0
	for {
		select {
		case <-n.Member.CaughtUp():
		default:
			if _, leads, _ := n.Broker.LocalPartition("reg", 0); leads {
				select {
				case <-n.Member.CaughtUp(): // registered meanwhile
				default:
					t.Fatalf("the restarted broker leads before it has registered (image epoch %d)", partitionOf(t, c, "reg", 0).LeaderEpoch)
				}
			}
			if checked%50 == 0 {
				// Refused, NOT_LEADER_OR_FOLLOWER once the partition is
				// open (UNKNOWN_TOPIC_OR_PARTITION before).
				if rp := localProduce(t, n.Broker, "reg", 0, 1, 5*time.Second, batchOf(t, "early")); rp.ErrorCode == 0 {
					select {
					case <-n.Member.CaughtUp():
					default:
						t.Fatal("a produce was appended before the broker registered")
					}
				}
			}
			checked++
			time.Sleep(2 * time.Millisecond)
			continue
		}
		break
	}
	t.Logf("checked %d times before registration", checked)
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if _, leads, _ := n.Broker.LocalPartition("reg", 0); !leads {
			return errors.New("the registered broker does not lead")
		}
		return nil
	})
	if after := partitionOf(t, c, "reg", 0).LeaderEpoch; after <= before {
		t.Fatalf("leader epoch %d after registering, want past %d", after, before)
	}
	if end := logOf(t, c, 0, "reg", 0).Offsets().LogEnd; end < 2 {
		t.Fatalf("log end %d after the restart, want the 2 records from before", end)
	}
}
