package broker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// tlsBenchRuns is how many alternating runs each side gets; the figures
// reported are the medians.
const tlsBenchRuns = 3

// BenchmarkBrokerTLS measures produce and fetch throughput through an SSL
// listener against a PLAINTEXT listener of the same broker in the same run,
// with the raw clients of BenchmarkBrokerRaw: pipelined acks=1 produce of
// 16 KiB batches, in rawChunk runs that alternate between the listeners
// (each to its own topic), then fetch of what each produced from the page
// cache, again alternating. Over PLAINTEXT the fetch path uses sendfile(2);
// over TLS it reads each region into a 256 KiB buffer and writes it through
// crypto/tls (AES-GCM, TLS 1.3), which is what the comparison shows. The
// benchmark client decrypts on the same cores, so the TLS figures carry the
// client's cost too. Reported: the median MB/s of tlsBenchRuns runs of each.
func BenchmarkBrokerTLS(b *testing.B) {
	ca := tlstest.NewCA(b, "bench CA")
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sslLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	node, err := broker.StartNode(broker.NodeConfig{
		ID: 1, DataDir: b.TempDir(), RaftListen: "127.0.0.1:0", Voters: map[uint64]string{1: "127.0.0.1:0"},
		AutoCreateTopics: true, Logger: quietLogger(),
		Listeners: []broker.ListenerConfig{
			{Name: "PLAINTEXT", Protocol: broker.Plaintext, Listener: plainLn},
			{Name: "SSL", Protocol: broker.SSL, Listener: sslLn,
				TLS: &tls.Config{Certificates: []tls.Certificate{ca.Issue(b, "bench").TLSCertificate(b)}}},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	batch := rawBatch(b)
	dial := func(addr string, secure bool) net.Conn {
		if secure {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool()})
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	type side struct {
		name              string
		produce, fetch    net.Conn
		produced, fetched []float64 // MB/s of each run
	}
	sides := []*side{
		{name: "plaintext", produce: dial(plainLn.Addr().String(), false), fetch: dial(plainLn.Addr().String(), false)},
		{name: "tls", produce: dial(sslLn.Addr().String(), true), fetch: dial(sslLn.Addr().String(), true)},
	}
	for _, s := range sides {
		defer s.produce.Close()
		defer s.fetch.Close()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(plainLn.Addr().String()), kgo.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	fetchBuf := make([]byte, 1<<20)
	sendfileBefore := node.Server.SendfileBytes()
	for i := 0; i < b.N; i++ {
		for _, s := range sides {
			s.produced, s.fetched = s.produced[:0], s.fetched[:0]
		}
		for _, s := range sides {
			topic := fmt.Sprintf("tls-bench-%s-%d", s.name, i)
			// franz-go retries until the new topic has its leader.
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("first")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			f := frame(produceRequest(topic, batch), 1)
			rawProduce(b, s.produce, bytes.Repeat(f, rawPipelineFrames), len(f), rawChunk) // warm-up, unmeasured
		}
		for range tlsBenchRuns {
			for _, s := range sides {
				topic := fmt.Sprintf("tls-bench-%s-%d", s.name, i)
				f := frame(produceRequest(topic, batch), 1)
				t0 := time.Now()
				n := rawProduce(b, s.produce, bytes.Repeat(f, rawPipelineFrames), len(f), rawChunk)
				s.produced = append(s.produced, float64(n)/1e6/time.Since(t0).Seconds())
			}
		}
		for _, s := range sides {
			topic := fmt.Sprintf("tls-bench-%s-%d", s.name, i)
			l, ok := node.Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: 0})
			if !ok {
				b.Fatalf("no log for %s", topic)
			}
			o := l.Offsets()
			// Warm up, unmeasured: the first part of the log.
			rawFetch(b, s.fetch, fetchBuf, topic, o.LogStart, o.HighWatermark, rawFetchBytes)
		}
		for run := range tlsBenchRuns {
			for _, s := range sides {
				topic := fmt.Sprintf("tls-bench-%s-%d", s.name, i)
				l, _ := node.Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: 0})
				o := l.Offsets()
				part := l.Size() / tlsBenchRuns
				from := o.LogStart + (o.HighWatermark-o.LogStart)*int64(run)/tlsBenchRuns
				t0 := time.Now()
				_, n := rawFetch(b, s.fetch, fetchBuf, topic, from, o.HighWatermark, part)
				s.fetched = append(s.fetched, float64(n)/1e6/time.Since(t0).Seconds())
			}
		}
	}
	if node.Server.SendfileBytes() == sendfileBefore {
		b.Fatal("the PLAINTEXT fetches did not use sendfile")
	}
	plain, secure := sides[0], sides[1]
	b.ReportMetric(median(plain.produced), "plaintext-produce-MB/s")
	b.ReportMetric(median(secure.produced), "tls-produce-MB/s")
	b.ReportMetric(median(plain.fetched), "plaintext-fetch-MB/s")
	b.ReportMetric(median(secure.fetched), "tls-fetch-MB/s")
	b.ReportMetric(median(secure.produced)/median(plain.produced), "tls/plaintext-produce")
	b.ReportMetric(median(secure.fetched)/median(plain.fetched), "tls/plaintext-fetch")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
