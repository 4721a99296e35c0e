package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// terminate stops the process with SIGTERM, a clean shutdown, and waits.
func (p *brokerProc) terminate() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("broker did not stop on SIGTERM: %s", p.output())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("broker exited with %d after SIGTERM: %s", code, p.stderr.String())
	}
}

// output returns what the process wrote to stderr so far.
func (p *brokerProc) output() string {
	lw := p.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.String()
}

// segmentFiles returns the .log files of a partition directory, oldest
// first, with their sizes.
func segmentFiles(t *testing.T, dir string) ([]string, map[string]int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sizes := map[string]int64{}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		sizes[e.Name()] = info.Size()
		if strings.HasSuffix(e.Name(), ".log") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, sizes
}

func segmentBase(t *testing.T, name string) int64 {
	t.Helper()
	var base int64
	if _, err := fmt.Sscanf(name, "%d.log", &base); err != nil {
		t.Fatal(err)
	}
	return base
}

// TestDamagedSegmentKeepsLaterSegments is the outside tests' finding, as a
// process test: damage put into sealed segments of a "runnel broker" data
// directory, once after a SIGKILL and once after a clean stop, never costs
// more than the damaged batches' own segment range. After the restart the
// broker says which offsets are unreadable, a franz-go consumer reads every
// record before and after them, fetches in the range get CORRUPT_MESSAGE
// (with the range in the tagged field the gateway reads), and no file is
// deleted or cut.
func TestDamagedSegmentKeepsLaterSegments(t *testing.T) {
	for _, stop := range []string{"kill -9", "clean stop"} {
		t.Run(stop, func(t *testing.T) {
			kafka, raft := freePort(t), freePort(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			b := startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", dataDir)
			cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			segBytes := "4096"
			testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
				resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &segBytes}, "dmg")
				if err == nil {
					err = resp.Err
				}
				if errors.Is(err, kerr.TopicAlreadyExists) {
					return nil
				}
				return err
			})
			const n = 600
			value := func(i int64) string { return fmt.Sprintf("%05d-%s", i, strings.Repeat("v", 90)) }
			for i := int64(0); i < n; i += 5 {
				var recs []*kgo.Record
				for j := i; j < i+5; j++ {
					recs = append(recs, &kgo.Record{Topic: "dmg", Value: []byte(value(j))})
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			if stop == "kill -9" {
				b.kill()
			} else {
				b.terminate()
			}
			cl.Close()

			partDir := filepath.Join(dataDir, "dmg-0")
			names, _ := segmentFiles(t, partDir)
			if len(names) < 6 {
				t.Fatalf("want at least 6 segments, got %v", names)
			}
			// Segment 1: 185 garbage bytes appended (no offset lost).
			f, err := os.OpenFile(filepath.Join(partDir, names[1]), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(bytes.Repeat([]byte{0xc3}, 185))
			f.Close()
			// Segment 3: garbage over its second batch's header: the offsets
			// from there to segment 4 are lost.
			path := filepath.Join(partDir, names[3])
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, err := recordbatch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := recordbatch.ParseHeader(first)
			f, _ = os.OpenFile(path, os.O_WRONLY, 0)
			f.WriteAt(bytes.Repeat([]byte{0x3c}, 40), int64(len(first)))
			f.Close()
			from, to := h.NextOffset(), segmentBase(t, names[4])
			_, before := segmentFiles(t, partDir)

			b.start()
			cl, err = kgo.NewClient(kgo.SeedBrokers(kafka))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			// Everything before the range, with a franz-go consumer.
			consumeRange(ctx, t, kafka, 0, from, value)
			// In the range: CORRUPT_MESSAGE, answered at once, naming it.
			var rp kmsg.FetchResponseTopicPartition
			testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
				rp = rawFetch(ctx, t, cl, "dmg", from+1)
				if rp.ErrorCode != kerr.CorruptMessage.Code {
					return fmt.Errorf("fetch in the range: %v", kerr.ErrorForCode(rp.ErrorCode))
				}
				return nil
			})
			got, err := unreadableRange(rp)
			if err != nil || got.From != from || got.To != to {
				t.Fatalf("unreadable range %+v (%v), want %d to %d", got, err, from, to)
			}
			// Every later segment survives and is served.
			consumeRange(ctx, t, kafka, to, n, value)
			if out := b.output(); !strings.Contains(out, "segment is damaged") || !strings.Contains(out, names[3]) {
				t.Fatalf("the broker did not say which segment is damaged:\n%s", out)
			}
			_, after := segmentFiles(t, partDir)
			for name, size := range before {
				if strings.HasSuffix(name, ".log") && after[name] != size {
					t.Errorf("%s: %d bytes after the restart, was %d (deleted or cut)", name, after[name], size)
				}
			}
			b.terminate()
		})
	}
}

// consumeRange reads offsets [from, to) of dmg-0 with a franz-go consumer
// and checks every value.
func consumeRange(ctx context.Context, t *testing.T, kafka string, from, to int64, value func(int64) string) {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"dmg": {0: kgo.NewOffset().At(from)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for next := from; next < to; {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		fs := c.PollFetches(pctx)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume at %d: %v", next, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= to {
				return
			}
			if r.Offset != next || string(r.Value) != value(next) {
				t.Fatalf("consumed offset %d %.8q, want offset %d", r.Offset, r.Value, next)
			}
			next++
		})
	}
}

// fetchRequest is a consumer's Fetch request for one partition at offset,
// answered at once, up to 1 MiB.
func fetchRequest(topic string, id [16]byte, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = partition, offset, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}

// unreadableRange returns the range of offsets a CORRUPT_MESSAGE answer says
// cannot be read (the tagged field kafkaext.UnreadableRangeTag).
func unreadableRange(rp kmsg.FetchResponseTopicPartition) (kafkaext.UnreadableRange, error) {
	var r kafkaext.UnreadableRange
	err := errors.New("no unreadable range tag")
	rp.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag == kafkaext.UnreadableRangeTag {
			r, err = kafkaext.ParseUnreadableRange(v)
		}
	})
	return r, err
}

// rawFetch fetches partition 0 of topic at offset with the newest Fetch
// version both sides support.
func rawFetch(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := fetchRequest(topic, md.Topics[topic].ID, 0, offset)
	req.MaxWaitMillis = 5000
	began := time.Now()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answer has %d topics", len(resp.Topics))
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 && time.Since(began) > 4*time.Second {
		t.Fatalf("error %v answered after %v: errors must be answered at once", kerr.ErrorForCode(rp.ErrorCode), time.Since(began))
	}
	return rp
}
