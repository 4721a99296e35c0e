package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The corruption matrix runs against golden data directories: each written
// once per test run by a broker process under a franz-go workload, one
// stopped by SIGKILL while producing and one stopped cleanly (SIGTERM).
// Every case damages one file of a copy of one of them.

// corruptionNodeMode makes the test binary run one broker node as
// "runnel broker" does, with raft snapshots every few metadata entries, so
// that a short run leaves snapshot files beside the WAL.
const corruptionNodeMode = "corruption-node"

// goldenSnapshotEntries is the raft snapshot interval of the golden writer.
const goldenSnapshotEntries = 6

// runCorruptionNode is the test binary's corruptionNodeMode: a broker node
// that serves until SIGTERM, then closes cleanly.
func runCorruptionNode(args []string) int {
	fset := flag.NewFlagSet(corruptionNodeMode, flag.ContinueOnError)
	dataDir := fset.String("data-dir", "", "")
	kafka := fset.String("kafka", "", "")
	raft := fset.String("raft", "", "")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: *dataDir, KafkaListen: *kafka, RaftListen: *raft, Voters: map[uint64]string{1: *raft},
		MetadataSnapshotEntries: goldenSnapshotEntries, Logger: log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	if err := node.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// goldenTopics are the topics of a golden directory: small segments so that
// every partition has several, an idempotent producer on "plain" and "zstd"
// (so producer snapshots exist), a plain acks=1 producer on "acks1".
var goldenTopics = []struct {
	name       string
	partitions int32
	segment    string
}{
	{"plain", 2, "4096"},
	{"zstd", 1, "2048"},
	{"acks1", 1, "8192"},
}

// deletedBefore is where DeleteRecords moves the log start of plain-1, so
// that the log-start-offset-checkpoint holds more than zeros.
const deletedBefore = 20

// gtp names a partition of a golden directory.
type gtp struct {
	topic     string
	partition int32
}

func (p gtp) String() string { return fmt.Sprintf("%s-%d", p.topic, p.partition) }

// grec is one record as written.
type grec struct {
	key, value string
}

// golden is one golden data directory and what is known about its records.
type golden struct {
	stop string // how its writer stopped, "kill-9" or "clean"; "quarantined" for the one derived from "clean"
	dir  string // the data directory: never changed after it was written
	// written holds every record at the offset the broker gave it: those
	// acknowledged, and those a restart of the undamaged directory serves
	// (written but not acknowledged when the broker was killed).
	written map[gtp]map[int64]grec
	// acked are the offsets acknowledged to the producers.
	acked map[gtp]map[int64]bool
	// start and end are each partition's log start and end offset as the
	// undamaged directory serves them.
	start, end map[gtp]int64
	// unreadable are offsets the directory itself cannot serve (a golden
	// directory with a quarantined segment).
	unreadable map[gtp][2]int64
	image      *treeImage // the directory's files, read once for every copy
}

// goldenValue is the value of the seq'th record sent to p: unique, and long
// enough that segments roll every few batches.
func goldenValue(p gtp, seq int) string {
	return fmt.Sprintf("%s/%06d/%s", p, seq, strings.Repeat("abcdefghij", 6+seq%5))
}

// goldenProducer sends records to the partitions of one topic and keeps
// what was acknowledged.
type goldenProducer struct {
	cl    *kgo.Client
	topic string
	parts int32

	mu    sync.Mutex
	seq   int
	acked map[gtp]map[int64]grec
	err   error
}

func newGoldenProducer(t *testing.T, kafka, topic string, parts int32, opts ...kgo.Opt) *goldenProducer {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(3), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &goldenProducer{cl: cl, topic: topic, parts: parts, acked: map[gtp]map[int64]grec{}}
}

// send produces n records, spread over the partitions, and returns at once;
// the callback records each acknowledgement.
func (g *goldenProducer) send(ctx context.Context, n int, done *sync.WaitGroup) {
	for range n {
		g.mu.Lock()
		seq := g.seq
		g.seq++
		g.mu.Unlock()
		p := gtp{g.topic, int32(seq) % g.parts}
		r := &kgo.Record{Topic: g.topic, Partition: p.partition, Key: fmt.Appendf(nil, "k%06d", seq), Value: []byte(goldenValue(p, seq))}
		done.Add(1)
		g.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer done.Done()
			g.mu.Lock()
			defer g.mu.Unlock()
			if err != nil {
				if g.err == nil {
					g.err = err
				}
				return
			}
			p := gtp{r.Topic, r.Partition}
			if g.acked[p] == nil {
				g.acked[p] = map[int64]grec{}
			}
			g.acked[p][r.Offset] = grec{string(r.Key), string(r.Value)}
		})
	}
}

// ackedCount is how many records were acknowledged so far.
func (g *goldenProducer) ackedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, m := range g.acked {
		n += len(m)
	}
	return n
}

// sendSync produces n records in batches of 5 and waits for each batch.
func (g *goldenProducer) sendSync(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := 0; i < n; i += 5 {
		var wg sync.WaitGroup
		g.send(ctx, min(5, n-i), &wg)
		wg.Wait()
		g.mu.Lock()
		err := g.err
		g.mu.Unlock()
		if err != nil {
			t.Fatalf("produce to %s: %v", g.topic, err)
		}
	}
}

// buildGolden writes a golden directory under root: topics created, records
// produced, a clean restart (a second leader epoch), more records,
// DeleteRecords on plain-1, then records produced without waiting while the
// broker is stopped by SIGKILL or SIGTERM. It then reads every partition of
// an undamaged copy to learn what a restart serves.
func buildGolden(t *testing.T, stop, root string) *golden {
	t.Helper()
	g := &golden{stop: stop, dir: filepath.Join(root, "golden-"+stop)}
	kafka, raft := freePort(t), freePort(t)
	b := &brokerProc{t: t, mode: corruptionNodeMode, kafka: kafka,
		args: []string{"--data-dir", g.dir, "--kafka", kafka, "--raft", raft}}
	b.start()
	t.Cleanup(b.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admin)
	for _, tc := range goldenTopics {
		seg := tc.segment
		testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
			resp, err := adm.CreateTopic(ctx, tc.partitions, 1, map[string]*string{"segment.bytes": &seg}, tc.name)
			if err == nil {
				err = resp.Err
			}
			if errors.Is(err, kerr.TopicAlreadyExists) {
				return nil
			}
			return err
		})
	}
	admin.Close()
	producers := func() []*goldenProducer {
		return []*goldenProducer{
			newGoldenProducer(t, kafka, "plain", 2),
			newGoldenProducer(t, kafka, "zstd", 1, kgo.ProducerBatchCompression(kgo.ZstdCompression())),
			newGoldenProducer(t, kafka, "acks1", 1, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck())),
		}
	}
	acked := map[gtp]map[int64]grec{}
	keep := func(ps []*goldenProducer) {
		for _, p := range ps {
			p.cl.Close()
			p.mu.Lock()
			for tp, m := range p.acked {
				if acked[tp] == nil {
					acked[tp] = map[int64]grec{}
				}
				for o, r := range m {
					acked[tp][o] = r
				}
			}
			p.mu.Unlock()
		}
	}
	seqs := map[string]int{}
	ps := producers()
	for _, p := range ps {
		p.sendSync(t, ctx, 150*int(p.parts))
		seqs[p.topic] = p.seq
	}
	keep(ps)
	b.terminate()
	b.start()
	ps = producers()
	for _, p := range ps {
		p.seq = seqs[p.topic]
		p.sendSync(t, ctx, 150*int(p.parts))
	}
	admin, err = kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "plain", Partition: 1, At: deletedBefore})
	dr, err := kadm.NewClient(admin).DeleteRecords(ctx, del)
	if err == nil {
		err = dr.Error()
	}
	admin.Close()
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	// Under load: records sent without waiting until the broker stops,
	// so that some are in flight when it does.
	var inflight, senders sync.WaitGroup
	loadCtx, stopLoad := context.WithCancel(ctx)
	acked0 := map[string]int{}
	for _, p := range ps {
		acked0[p.topic] = p.ackedCount()
		senders.Go(func() {
			for loadCtx.Err() == nil {
				p.send(loadCtx, 10, &inflight)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	testwait.For(t, 20*time.Second, time.Millisecond, func() error {
		for _, p := range ps {
			if n := p.ackedCount() - acked0[p.topic]; n < 40 {
				return fmt.Errorf("%s: %d acknowledged under load", p.topic, n)
			}
		}
		return nil
	})
	if stop == "kill-9" {
		b.kill()
	} else {
		b.terminate()
	}
	stopLoad()
	senders.Wait()
	keep(ps)
	inflight.Wait()

	g.acked = map[gtp]map[int64]bool{}
	for tp, m := range acked {
		g.acked[tp] = map[int64]bool{}
		for o := range m {
			g.acked[tp][o] = true
		}
	}
	g.image = readImage(t, g.dir)
	g.learnWritten(t, acked)
	return g
}

// quarantinedGolden derives from the clean golden directory one in which a
// segment of plain-1 is quarantined: a bit flipped in its middle segment,
// found by a broker reading it, leaves a quarantine-checkpoint, the one
// file kind the other golden directories do not have.
func quarantinedGolden(t *testing.T, g *golden, root string) *golden {
	t.Helper()
	q := &golden{stop: "quarantined", dir: filepath.Join(root, "golden-quarantined"), written: g.written, acked: g.acked, start: g.start, end: g.end}
	readImage(t, g.dir).writeTo(t, q.dir)
	p := gtp{"plain", 1}
	logs := q.filesIn(t, p.String(), ".log")
	rel := filepath.Join(p.String(), logs[len(logs)/2])
	d, _ := fixedDamage("bitflip", q.size(t, rel))
	e := g.expect(t, rel, g.classify(t, rel), d, q.size(t, rel), true)
	d.apply(t, filepath.Join(q.dir, rel))
	q.unreadable = map[gtp][2]int64{p: e.loss}
	n := startCaseNode(t, q.dir)
	defer n.close(t)
	if err := n.waitServing(t, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md, err := kadm.NewClient(n.client(t)).Metadata(ctx, p.topic)
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.readPartition(ctx, t, p, md.Topics[p.topic].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.unreadable) != 1 || s.unreadable[0].From != e.loss[0] || s.unreadable[0].To != e.loss[1] {
		t.Fatalf("%s %s: unreadable %v, want offsets %d to %d", rel, d, s.unreadable, e.loss[0], e.loss[1]-1)
	}
	n.close(t)
	if _, err := os.Stat(filepath.Join(q.dir, p.String(), kindQuarantine)); err != nil {
		t.Fatalf("no quarantine checkpoint after a segment was quarantined: %v", err)
	}
	q.image = readImage(t, q.dir)
	return q
}

// goldenPartitions lists every partition of a golden directory.
func goldenPartitions() []gtp {
	var out []gtp
	for _, tc := range goldenTopics {
		for p := range tc.partitions {
			out = append(out, gtp{tc.name, p})
		}
	}
	return out
}

// learnWritten reads every partition of an undamaged copy of the golden
// directory with a franz-go consumer and checks it against what was
// acknowledged: every acknowledged record at its offset, every other record
// one that was sent, each once, offsets dense. What it reads is the
// reference for every damaged case.
func (g *golden) learnWritten(t *testing.T, acked map[gtp]map[int64]grec) {
	t.Helper()
	n := startCaseNode(t, g.copyTree(t))
	defer n.close(t)
	if err := n.waitServing(t, nil); err != nil {
		t.Fatalf("undamaged %s directory: %v", g.stop, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(n.client(t))
	starts, err := adm.ListStartOffsets(ctx)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	g.written, g.start, g.end = map[gtp]map[int64]grec{}, map[gtp]int64{}, map[gtp]int64{}
	seen := map[string]bool{}
	for _, p := range goldenPartitions() {
		s, _ := starts.Lookup(p.topic, p.partition)
		e, _ := ends.Lookup(p.topic, p.partition)
		g.start[p], g.end[p] = s.Offset, e.Offset
		want := int64(0)
		if p == (gtp{"plain", 1}) {
			want = deletedBefore
		}
		if s.Offset != want {
			t.Fatalf("%s %s: log start %d, want %d", g.stop, p, s.Offset, want)
		}
		g.written[p] = map[int64]grec{}
		c, err := kgo.NewClient(kgo.SeedBrokers(n.kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.topic: {p.partition: kgo.NewOffset().At(s.Offset)}}))
		if err != nil {
			t.Fatal(err)
		}
		for next := s.Offset; next < e.Offset; {
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			fetches := c.PollFetches(pctx)
			pcancel()
			if err := fetches.Err0(); err != nil {
				t.Fatalf("%s %s: consume at %d: %v", g.stop, p, next, err)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Offset != next {
					t.Fatalf("%s %s: consumed offset %d, want %d", g.stop, p, r.Offset, next)
				}
				if seen[string(r.Value)] || !strings.HasPrefix(string(r.Value), p.String()+"/") {
					t.Fatalf("%s %s offset %d: value %.30q served twice or never sent here", g.stop, p, r.Offset, r.Value)
				}
				seen[string(r.Value)] = true
				g.written[p][r.Offset] = grec{string(r.Key), string(r.Value)}
				next++
			})
		}
		c.Close()
		for o, r := range acked[p] {
			if o < s.Offset {
				g.written[p][o] = r // deleted by DeleteRecords: known from the acknowledgement
				continue
			}
			if got, ok := g.written[p][o]; !ok || got != r {
				t.Fatalf("%s %s: acknowledged offset %d (%.30q) served as %.30q", g.stop, p, o, r.value, got.value)
			}
		}
	}
	unacked := 0
	for p, m := range g.written {
		for o := range m {
			if !g.acked[p][o] {
				unacked++
			}
		}
	}
	t.Logf("golden %s: log ends %v; %d records served that were in flight, not acknowledged", g.stop, g.end, unacked)
}

// treeEntry is one file of a directory tree.
type treeEntry struct {
	size int64
	dir  bool
}

// listTree lists every file and directory under root by relative path.
func listTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = treeEntry{size: info.Size(), dir: d.IsDir()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeImage is a directory tree held in memory, to be written out again
// and again: every directory, and every file as its size and the blocks
// that are not all zeros (the active segments' preallocated index files are
// 10 MiB of mostly zeros, and stay sparse in each copy).
type treeImage struct {
	dirs  []string
	files []imageFile
}

type imageFile struct {
	rel    string
	size   int64
	blocks []imageBlock
}

type imageBlock struct {
	at   int64
	data []byte
}

const imageBlockSize = 64 << 10

// readImage reads the tree under root.
func readImage(t *testing.T, root string) *treeImage {
	t.Helper()
	tree := listTree(t, root)
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	img := &treeImage{}
	for _, p := range paths {
		if tree[p].dir {
			img.dirs = append(img.dirs, p)
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		f := imageFile{rel: p, size: int64(len(data))}
		for at := 0; at < len(data); at += imageBlockSize {
			block := data[at:min(at+imageBlockSize, len(data))]
			if bytes.Count(block, []byte{0}) != len(block) {
				f.blocks = append(f.blocks, imageBlock{int64(at), block})
			}
		}
		img.files = append(img.files, f)
	}
	return img
}

// writeTo writes the tree out under dst.
func (img *treeImage) writeTo(t *testing.T, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range img.dirs {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range img.files {
		out, err := os.OpenFile(filepath.Join(dst, f.rel), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range f.blocks {
			if _, err := out.WriteAt(b.data, b.at); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Truncate(f.size); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// copyTree copies the golden directory into a new temporary directory.
func (g *golden) copyTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	g.image.writeTo(t, dst)
	return dst
}
