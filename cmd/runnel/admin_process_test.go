package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// admin runs "runnel admin ARGS --bootstrap addr".
func admin(t *testing.T, addr string, args ...string) result {
	t.Helper()
	return runnel(t, nil, append(append([]string{"admin"}, args...), "--bootstrap", addr)...)
}

// adminJSON runs an admin command with --json, wants exit 0 and decodes
// its output into out.
func adminJSON(t *testing.T, addr string, out any, args ...string) {
	t.Helper()
	r := admin(t, addr, append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("admin %v: exit %d: %s", args, r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("admin %v: %v in %q", args, err, r.stdout)
	}
}

// wantAdminError checks a one-line refusal on stderr with the exit code and
// nothing on stdout.
func wantAdminError(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("want exit %d and one line with %q; got exit %d, stdout %q, stderr %q", code, want, r.code, r.stdout, r.stderr)
	}
}

// TestAdminTopicsAgainstDev runs every "runnel admin topics" command and
// "runnel admin cluster" against "runnel dev", in tables and JSON, and the
// refusals: by the cluster (exit 1, the broker's message and Kafka error
// name), of the command line (exit 2), and an address nobody listens on.
func TestAdminTopicsAgainstDev(t *testing.T) {
	p := startDev(t, t.TempDir())
	addr := p.kafka

	r := admin(t, addr, "topics", "create", "orders", "--partitions", "3", "--set", "retention.ms=60000", "--set", "cleanup.policy=compact,delete")
	if r.code != 0 || r.stdout != "created topic orders: 3 partitions, replication factor 1\n" {
		t.Fatalf("create: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = admin(t, addr, "topics", "list")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "TOPIC   PARTITIONS  RF  ID\norders  3           1   ") {
		t.Fatalf("list: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = admin(t, addr, "topics", "describe", "orders")
	for _, want := range []string{"Topic: orders  ID: ", "Partitions: 3  Replication factor: 1", "PARTITION  LEADER  EPOCH  REPLICAS  ISR  ERROR\n0          1",
		"  cleanup.policy=compact,delete\n  retention.ms=60000\n"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("describe lacks %q: exit %d\n%s%s", want, r.code, r.stdout, r.stderr)
		}
	}
	r = admin(t, addr, "topics", "alter", "orders", "--partitions", "5", "--set", "retention.ms=1000", "--delete-config", "cleanup.policy")
	if r.code != 0 || r.stdout != "altered topic orders: 2 configs changed, 5 partitions\n" {
		t.Fatalf("alter: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var described []topicDescription
	adminJSON(t, addr, &described, "topics", "describe", "orders")
	if _, err := uuid.Parse(described[0].ID); err != nil {
		t.Errorf("topic id %q is not a UUID, as the REST API writes it: %v", described[0].ID, err)
	}
	if len(described) != 1 || described[0].Partitions != 5 || len(described[0].PartitionDetails) != 5 ||
		len(described[0].Configs) != 1 || described[0].Configs["retention.ms"] != "1000" || described[0].PartitionDetails[4].Leader != 1 {
		t.Fatalf("describe --json after alter: %+v", described)
	}
	var cluster clusterView
	adminJSON(t, addr, &cluster, "cluster")
	if len(cluster.Brokers) != 1 || cluster.Brokers[0].ID != 1 || cluster.ControllerID != 1 || cluster.Quorum.LeaderID != 1 ||
		len(cluster.Quorum.Voters) != 1 || cluster.Quorum.Voters[0].LogEndOffset < 1 || cluster.Quorum.Voters[0].RaftAddress == "" {
		t.Fatalf("cluster --json: %+v", cluster)
	}
	r = admin(t, addr, "cluster")
	if r.code != 0 || !strings.Contains(r.stdout, "BROKER  HOST       PORT") || !strings.Contains(r.stdout, "Metadata quorum: leader 1, epoch ") ||
		!strings.Contains(r.stdout, "\n1     leader  ") {
		t.Fatalf("cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Refusals by the cluster: exit 1 with its message and the error name.
	wantAdminError(t, admin(t, addr, "topics", "create", "orders"), 1, `create topic "orders": topic "orders" already exists: TOPIC_ALREADY_EXISTS`)
	wantAdminError(t, admin(t, addr, "topics", "create", "wide", "--replication-factor", "3"), 1, "larger than the 1 available broker: INVALID_REPLICATION_FACTOR")
	wantAdminError(t, admin(t, addr, "topics", "alter", "orders", "--partitions", "2"), 1, "partitions can only be added: INVALID_PARTITIONS")
	wantAdminError(t, admin(t, addr, "topics", "alter", "orders", "--set", "bogus=1"), 1, `unknown topic config "bogus"`)
	wantAdminError(t, admin(t, addr, "topics", "describe", "nope"), 1, `describe topic "nope": UNKNOWN_TOPIC_OR_PARTITION`)
	// Bad command lines: exit 2 before anything is sent.
	wantAdminError(t, admin(t, addr, "topics", "create"), 2, "missing TOPIC")
	wantAdminError(t, admin(t, addr, "topics", "create", "x", "--partitions", "0"), 2, "--partitions 0")
	wantAdminError(t, admin(t, addr, "topics", "create", "x", "--set", "novalue"), 2, "want name=value")
	wantAdminError(t, admin(t, addr, "topics", "alter", "orders"), 2, "nothing to change")
	wantAdminError(t, admin(t, addr, "voters", "add", "--id", "2"), 2, `--raft "": want the new voter's raft address`)
	wantAdminError(t, admin(t, "nonsense", "cluster"), 2, `--bootstrap "nonsense": want host:port`)
	// Nobody there: exit 1, naming the address.
	dead := freePort(t)
	wantAdminError(t, admin(t, dead, "topics", "list", "--timeout", "5s"), 1, "no broker listens at "+dead)

	r = admin(t, addr, "topics", "delete", "orders")
	if r.code != 0 || r.stdout != "deleted orders\n" {
		t.Fatalf("delete: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var listed []topicSummary
	adminJSON(t, addr, &listed, "topics", "list")
	if len(listed) != 0 {
		t.Fatalf("list after delete: %+v", listed)
	}
}

// TestAdminGrowsClusterToThreeVoters grows a cluster with the CLI alone, as
// the README tells: broker 1 starts as the only voter, brokers 2 and 3 start
// outside --voters (learners), "runnel admin voters add" makes them voters,
// "runnel admin cluster" shows three voters caught up and three brokers,
// and a topic with replication factor 3 can then be created.
func TestAdminGrowsClusterToThreeVoters(t *testing.T) {
	var kafka, raft, adminAddr []string
	for range 3 {
		kafka, raft, adminAddr = append(kafka, freePort(t)), append(raft, freePort(t)), append(adminAddr, freePort(t))
	}
	for i := range 3 {
		startBroker(t, kafka[i], "--id", strconv.Itoa(i+1), "--raft", raft[i], "--voters", "1@"+raft[0],
			"--admin-addr", adminAddr[i], "--data-dir", filepath.Join(t.TempDir(), "n"+strconv.Itoa(i+1)))
	}
	var cluster clusterView
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		cluster = clusterView{}
		adminJSON(t, kafka[0], &cluster, "cluster")
		if cluster.Quorum.LeaderID != 1 || len(cluster.Brokers) != 1 {
			return fmt.Errorf("broker 1 not registered yet: %+v", cluster)
		}
		return nil
	})
	if len(cluster.Quorum.Voters) != 1 || len(cluster.Quorum.Observers) != 0 {
		t.Fatalf("before: %+v", cluster.Quorum)
	}
	// The voter APIs are served on the admin listener only.
	wantAdminError(t, admin(t, kafka[0], "voters", "add", "--id", "2", "--raft", raft[1]), 1, "is not an admin listener")
	for _, id := range []int{2, 3} {
		r := admin(t, adminAddr[0], "voters", "add", "--id", strconv.Itoa(id), "--raft", raft[id-1])
		want := "added node " + strconv.Itoa(id) + " (raft " + raft[id-1] + ") as a voter\n"
		if r.code != 0 || r.stdout != want {
			t.Fatalf("voters add %d: exit %d %q %q", id, r.code, r.stdout, r.stderr)
		}
	}
	// Learners register as brokers once they have caught up.
	testwait.For(t, 60*time.Second, 200*time.Millisecond, func() error {
		cluster = clusterView{}
		adminJSON(t, kafka[0], &cluster, "cluster")
		q := cluster.Quorum
		if len(cluster.Brokers) != 3 || len(q.Voters) != 3 || len(q.Observers) != 0 {
			return fmt.Errorf("cluster: %d brokers, quorum %+v", len(cluster.Brokers), q)
		}
		for _, v := range q.Voters {
			if v.LogEndOffset < 0 || v.RaftAddress != raft[v.ID-1] {
				return fmt.Errorf("voter %+v (raft addresses %v)", v, raft)
			}
		}
		return nil
	})
	r := admin(t, kafka[1], "topics", "create", "replicated", "--partitions", "3", "--replication-factor", "3")
	if r.code != 0 || r.stdout != "created topic replicated: 3 partitions, replication factor 3\n" {
		t.Fatalf("create rf 3: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var described []topicDescription
	adminJSON(t, kafka[2], &described, "topics", "describe", "replicated")
	if len(described) != 1 || described[0].ReplicationFactor != 3 {
		t.Fatalf("describe: %+v", described)
	}
}
