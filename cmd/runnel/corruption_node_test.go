package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// caseNode is a broker started on a damaged copy of a golden directory:
// in-process (broker.StartNode, fast) or as a "runnel broker" process (its
// exit code and stderr seen as an operator sees them).
type caseNode struct {
	kafka  string
	node   *broker.Node  // in-process
	out    *lockedWriter // in-process: its logs
	proc   *brokerProc   // process
	cl     *kgo.Client
	closed bool
}

// caseStartTimeout bounds a start: a node that neither serves nor refuses
// by then fails the case.
const caseStartTimeout = 30 * time.Second

// startCaseNode starts an in-process node on dir and fails the test if it
// refuses.
func startCaseNode(t *testing.T, dir string) *caseNode {
	t.Helper()
	n, err := launchCaseNode(t, dir, false)
	if err != nil {
		t.Fatalf("start on %s: %v", dir, err)
	}
	return n
}

// launchCaseNode starts a node on dir, in-process or as a process. A
// refusal to start is returned as the error (for a process: its exit code
// and stderr); a node that did not refuse is returned serving or about to.
func launchCaseNode(t *testing.T, dir string, process bool) (*caseNode, error) {
	t.Helper()
	if !process {
		return launchInProcess(t, dir)
	}
	for attempt := 0; ; attempt++ {
		n, err := launchProcess(t, dir)
		// Ports are picked free, then bound by the process: another
		// case may take one in between.
		if err == nil || !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			return n, err
		}
	}
}

// launchInProcess starts a node with broker.StartNode on listeners of its
// own.
func launchInProcess(t *testing.T, dir string) (*caseNode, error) {
	t.Helper()
	n := &caseNode{out: &lockedWriter{w: &bytes.Buffer{}}}
	log := slog.New(slog.NewTextHandler(n.out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	kafka, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raft, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type started struct {
		node *broker.Node
		err  error
	}
	ch := make(chan started, 1)
	go func() {
		node, err := broker.StartNode(broker.NodeConfig{ID: 1, DataDir: dir, KafkaListener: kafka, RaftListener: raft,
			Voters: map[uint64]string{1: raft.Addr().String()}, Logger: log})
		ch <- started{node, err}
	}()
	select {
	case s := <-ch:
		if s.err != nil {
			return nil, s.err
		}
		n.node, n.kafka = s.node, s.node.KafkaAddr()
		return n, nil
	case <-time.After(caseStartTimeout):
		t.Fatalf("StartNode on %s neither started nor refused in %v:\n%s", dir, caseStartTimeout, n.logs())
		return nil, nil
	}
}

// launchProcess starts a "runnel broker" process on dir.
func launchProcess(t *testing.T, dir string) (*caseNode, error) {
	t.Helper()
	raft := freePort(t)
	n := &caseNode{kafka: freePort(t)}
	n.proc = &brokerProc{t: t, kafka: n.kafka, args: []string{"broker", "--id", "1", "--raft", raft, "--voters", "1@" + raft,
		"--data-dir", dir, "--kafka", n.kafka, "--log-level", "info"}}
	n.proc.spawn()
	t.Cleanup(n.proc.kill)
	// The Kafka port may accept connections before the metadata is opened:
	// the node has started once it answers ApiVersions.
	deadline := time.Now().Add(caseStartTimeout)
	for {
		select {
		case <-n.proc.done:
			out := strings.TrimSpace(n.logs())
			return nil, &refusal{code: n.proc.cmd.ProcessState.ExitCode(), msg: out[strings.LastIndexByte(out, '\n')+1:], output: out}
		default:
		}
		if n.answers() {
			return n, nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker process on %s neither started nor refused in %v:\n%s", dir, caseStartTimeout, n.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusal is how a broker process refused to start: its exit code, the
// last line it wrote (the command's error) and all of its output.
type refusal struct {
	code        int
	msg, output string
}

func (r *refusal) Error() string { return fmt.Sprintf("exit code %d: %s", r.code, r.msg) }

// answers reports whether the node answers an ApiVersions request.
func (n *caseNode) answers() bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka), kgo.RequestRetries(0), kgo.DialTimeout(200*time.Millisecond))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	return err == nil
}

// logs returns what the node logged (in-process) or wrote to stderr.
func (n *caseNode) logs() string {
	if n.proc != nil {
		return n.proc.output()
	}
	n.out.mu.Lock()
	defer n.out.mu.Unlock()
	return n.out.w.String()
}

func (n *caseNode) client(t *testing.T) *kgo.Client {
	t.Helper()
	if n.cl == nil {
		// Metadata is refreshed at once when a partition has no leader
		// yet, not after kgo's default 5 s.
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka), kgo.MetadataMinAge(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n.cl = cl
	}
	return n.cl
}

// close stops the node cleanly; it must close without error (a process:
// exit code 0 after SIGTERM).
func (n *caseNode) close(t *testing.T) {
	t.Helper()
	if n.cl != nil {
		n.cl.Close()
		n.cl = nil
	}
	if n.node != nil {
		if err := n.node.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		n.node = nil
	}
	if n.proc == nil || n.closed {
		return
	}
	n.closed = true
	select {
	case <-n.proc.done:
		t.Errorf("broker process exited before it was stopped (code %d):\n%s", n.proc.cmd.ProcessState.ExitCode(), n.logs())
	default:
		n.proc.terminate()
	}
}

// waitServing waits until every partition of the golden directories is
// either served (ListOffsets answers) or refused (KAFKA_STORAGE_ERROR) or,
// where forgettable allows it, unknown to the metadata. It returns the
// partitions not served with the error each answered.
func (n *caseNode) waitServing(t *testing.T, forgettable func(gtp) bool) error {
	t.Helper()
	_, err := n.partitionStates(t, forgettable)
	return err
}

// partitionStates is waitServing returning, besides, the error of each
// partition that is not served.
func (n *caseNode) partitionStates(t *testing.T, forgettable func(gtp) bool) (map[gtp]error, error) {
	t.Helper()
	adm := kadm.NewClient(n.client(t))
	deadline := time.Now().Add(caseStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, err := adm.ListEndOffsets(ctx, "plain", "zstd", "acks1")
		cancel()
		states := map[gtp]error{}
		pending := err
		if err == nil {
			for _, p := range goldenPartitions() {
				o, ok := ends.Lookup(p.topic, p.partition)
				switch {
				case !ok || errors.Is(o.Err, kerr.UnknownTopicOrPartition):
					if forgettable != nil && forgettable(p) {
						states[p] = kerr.UnknownTopicOrPartition
					} else {
						pending = fmt.Errorf("%s: unknown", p)
					}
				case o.Err == nil:
				case errors.Is(o.Err, kerr.KafkaStorageError):
					states[p] = o.Err
				default:
					pending = fmt.Errorf("%s: %w", p, o.Err)
				}
			}
		}
		if pending == nil {
			return states, nil
		}
		if n.proc != nil {
			select {
			case <-n.proc.done:
				return nil, fmt.Errorf("broker process exited (code %d) while waiting for its partitions: %v\n%s", n.proc.cmd.ProcessState.ExitCode(), pending, n.logs())
			default:
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("partitions not served after %v: %v", caseStartTimeout, pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// served is what a node serves of one partition.
type served struct {
	start, end int64 // log start offset and high watermark
	records    map[int64]grec
	unreadable []kafkaext.UnreadableRange
	// silent are ranges of offsets skipped without a word: a fetch
	// answered later offsets than the one asked for.
	silent [][2]int64
}

// readPartition reads partition p from its log start to its high watermark
// with raw Fetch requests: every batch CRC-checked and decoded, every
// CORRUPT_MESSAGE answer's unreadable range noted and skipped.
func (n *caseNode) readPartition(ctx context.Context, t *testing.T, p gtp, topicID [16]byte) (*served, error) {
	t.Helper()
	cl := n.client(t)
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, p.topic)
	if err != nil {
		return nil, err
	}
	so, _ := starts.Lookup(p.topic, p.partition)
	if so.Err != nil {
		return nil, fmt.Errorf("list start offset: %w", so.Err)
	}
	s := &served{start: so.Offset, end: -1, records: map[int64]grec{}}
	off := so.Offset
	for empty := 0; ; {
		req := fetchRequest(p.topic, topicID, p.partition, off)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return s, fmt.Errorf("fetch at %d: %w", off, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return s, fmt.Errorf("fetch at %d: answer for %d topics", off, len(resp.Topics))
		}
		rp := resp.Topics[0].Partitions[0]
		s.end = rp.HighWatermark
		switch {
		case rp.ErrorCode == kerr.CorruptMessage.Code:
			r, err := unreadableRange(rp)
			if err != nil {
				return s, fmt.Errorf("fetch at %d: CORRUPT_MESSAGE without an unreadable range: %v", off, err)
			}
			if off < r.From || off >= r.To {
				return s, fmt.Errorf("fetch at %d: unreadable range %v does not hold the offset", off, r)
			}
			s.unreadable = append(s.unreadable, r)
			off = r.To
			continue
		case rp.ErrorCode != 0:
			return s, fmt.Errorf("fetch at %d: %w", off, kerr.ErrorForCode(rp.ErrorCode))
		}
		if off >= rp.HighWatermark {
			return s, nil
		}
		next, err := s.decode(rp.RecordBatches, off)
		if err != nil {
			return s, fmt.Errorf("fetch at %d: %w", off, err)
		}
		if next == off {
			if empty++; empty > 20 {
				return s, fmt.Errorf("fetch at %d below the high watermark %d returns nothing", off, rp.HighWatermark)
			}
			continue
		}
		off, empty = next, 0
	}
}

// decode checks and decodes the whole batches of a fetch answer from offset
// off on and returns the offset after the last record.
func (s *served) decode(data []byte, off int64) (int64, error) {
	for len(data) > 0 {
		batch, rest, err := recordbatch.Next(data)
		if errors.Is(err, recordbatch.ErrTruncated) {
			break // a partial batch at the end of a size-limited answer
		}
		if err != nil {
			return off, fmt.Errorf("served bytes are not a batch: %w", err)
		}
		data = rest
		h, err := recordbatch.Validate(batch, 0)
		if err != nil {
			return off, fmt.Errorf("served a damaged batch at offset %d: %w", h.BaseOffset, err)
		}
		recs, err := recordbatch.DecodeRecords(nil, batch, recordbatch.DecodeOptions{})
		if err != nil {
			return off, fmt.Errorf("served a batch at offset %d whose records do not decode: %w", h.BaseOffset, err)
		}
		for _, r := range recs {
			if r.Offset < off {
				continue
			}
			if r.Offset > off {
				s.silent = append(s.silent, [2]int64{off, r.Offset})
			}
			s.records[r.Offset] = grec{string(r.Key), string(r.Value)}
			off = r.Offset + 1
		}
		off = max(off, h.NextOffset())
	}
	return off, nil
}
