package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// groupClient sends REST calls checked against openapi.yaml.
type groupClient struct {
	t    *testing.T
	base string
	tok  string
	hc   *http.Client
}

func (g *groupClient) call(method, path, body string, out any) (int, string) {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, g.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+g.tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

func (g *groupClient) want(status int, method, path, body string, out any) string {
	g.t.Helper()
	code, b := g.call(method, path, body, out)
	if code != status {
		g.t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, code, b, status)
	}
	return b
}

type groupView struct {
	State   string
	Members []struct {
		ClientID   string `json:"client_id"`
		ClientHost string `json:"client_host"`
		Assignment []struct {
			Topic      string
			Partitions []int32
		}
	}
	Offsets []struct {
		Partition int32
		Committed *int64 `json:"committed_offset"`
		LogEnd    int64  `json:"log_end_offset"`
		Lag       int64
		MemberID  *string `json:"member_id"`
		CommitTS  *int64  `json:"commit_timestamp"`
		AgeMS     *int64  `json:"commit_age_ms"`
	}
	TotalLag int64 `json:"total_lag"`
}

// TestGroupsOverRESTWithAKafkaConsumer: a franz-go group consumer commits
// part of what it read; the REST group API shows it as a live member with
// its assignment, and lag equal to produced minus committed on every
// partition; resetting or deleting the group is refused while the member
// lives and done once it has left.
func TestGroupsOverRESTWithAKafkaConsumer(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("orders", 2, nil)
	gw := startGateway(t, c)
	api := &groupClient{t: t, base: gw.URL(), tok: adminToken(t), hc: &http.Client{Transport: openapitest.Transport(t, nil), Timeout: 30 * time.Second}}

	produced := [2]int{10, 6}
	for p, n := range produced {
		events := make([]string, n)
		for i := range events {
			events[i] = fmt.Sprintf(`{"value":%d,"partition":%d}`, i, p)
		}
		api.want(200, "POST", "/v1/topics/orders/events", `{"events":[`+strings.Join(events, ",")+`]}`, nil)
	}

	cl := c.Client(kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ClientID("billing-svc"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	// Read everything, commit up to offset 4 of partition 0 and 5 of
	// partition 1 (the records before them).
	var toCommit []*kgo.Record
	got := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got < produced[0]+produced[1] {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, produced[0]+produced[1], err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if r.Partition == 0 && r.Offset == 3 || r.Partition == 1 && r.Offset == 4 {
				toCommit = append(toCommit, r)
			}
		})
	}
	before := time.Now().UnixMilli()
	if err := cl.CommitRecords(ctx, toCommit...); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	committed := [2]int64{4, 5}

	var g groupView
	testwait.For(t, 20*time.Second, 100*time.Millisecond, func() error {
		g = groupView{}
		api.want(200, "GET", "/v1/groups/billing", "", &g)
		if g.State != "Stable" || len(g.Offsets) != 2 || g.Offsets[0].Committed == nil || g.Offsets[1].Committed == nil {
			return fmt.Errorf("group %+v", g)
		}
		return nil
	})
	if len(g.Members) != 1 || g.Members[0].ClientID != "billing-svc" || g.Members[0].ClientHost == "" ||
		len(g.Members[0].Assignment) != 1 || len(g.Members[0].Assignment[0].Partitions) != 2 {
		t.Fatalf("members %+v", g.Members)
	}
	var total int64
	for _, o := range g.Offsets {
		want := int64(produced[o.Partition]) - committed[o.Partition]
		if *o.Committed != committed[o.Partition] || o.LogEnd != int64(produced[o.Partition]) || o.Lag != want || o.MemberID == nil {
			t.Fatalf("partition %d: %+v, want committed %d, end %d, lag %d", o.Partition, o, committed[o.Partition], produced[o.Partition], want)
		}
		total += want
		if o.CommitTS == nil || *o.CommitTS < before-1000 || *o.CommitTS > after+1000 || o.AgeMS == nil || *o.AgeMS < 0 {
			t.Fatalf("partition %d: commit time %v (age %v), want between %d and %d", o.Partition, o.CommitTS, o.AgeMS, before, after)
		}
	}
	if g.TotalLag != total {
		t.Fatalf("total lag %d, want %d", g.TotalLag, total)
	}
	// Errors from the cluster, as documented.
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/groups/nobody", "", 404, "group_not_found"},
		{"DELETE", "/v1/groups/nobody", "", 404, "group_not_found"},
		{"GET", "/v1/groups/bad*id", "", 400, "invalid_request"},
		{"POST", "/v1/groups/other/offsets", `{"topic":"nope","partition":0,"offset":0}`, 404, "topic_not_found"},
		{"POST", "/v1/groups/other/offsets", `{"topic":"nope","to":"latest"}`, 404, "topic_not_found"},
		{"POST", "/v1/groups/other/offsets", `{"topic":"orders","partition":9,"offset":0}`, 404, "partition_not_found"},
		{"POST", "/v1/groups/other/offsets", `{"topic":"orders","partition":9,"to":"earliest"}`, 404, "partition_not_found"},
		{"POST", "/v1/groups/other/offsets", `{"topic":"orders","partition":0,"offset":11}`, 416, "offset_out_of_range"},
		{"GET", "/v1/topics/orders/partitions/9/events?group=other&from=committed", "", 404, "partition_not_found"},
	} {
		if b := api.want(tc.status, tc.method, tc.path, tc.body, nil); !strings.Contains(b, `"`+tc.code+`"`) {
			t.Fatalf("%s %s %s: %s, want code %s", tc.method, tc.path, tc.body, b, tc.code)
		}
	}

	var list struct {
		Groups []struct{ Name, State string }
	}
	api.want(200, "GET", "/v1/groups", "", &list)
	if len(list.Groups) != 1 || list.Groups[0].Name != "billing" {
		t.Fatalf("list %+v", list)
	}

	// Live member: commits, resets and deletion are refused.
	for _, body := range []string{`{"topic":"orders","to":"earliest"}`, `{"topic":"orders","partition":0,"offset":1}`} {
		if b := api.want(409, "POST", "/v1/groups/billing/offsets", body, nil); !strings.Contains(b, "group_not_empty") {
			t.Fatalf("refusal %s", b)
		}
	}
	api.want(409, "DELETE", "/v1/groups/billing", "", nil)

	// The member leaves: the reset goes through.
	cl.Close()
	testwait.For(t, 20*time.Second, 100*time.Millisecond, func() error {
		code, b := api.call("POST", "/v1/groups/billing/offsets", `{"topic":"orders","to":"earliest"}`, nil)
		if code != 200 {
			return fmt.Errorf("reset after the member left: %d %s", code, b)
		}
		return nil
	})
	g = groupView{}
	api.want(200, "GET", "/v1/groups/billing", "", &g)
	if g.State != "Empty" || len(g.Members) != 0 || g.TotalLag != int64(produced[0]+produced[1]) {
		t.Fatalf("after reset to earliest: %+v", g)
	}
	api.want(200, "POST", "/v1/groups/billing/offsets", `{"topic":"orders","partition":1,"to":"latest"}`, nil)
	api.want(200, "GET", "/v1/groups/billing", "", &g)
	if *g.Offsets[1].Committed != int64(produced[1]) || g.Offsets[1].Lag != 0 {
		t.Fatalf("after reset of partition 1 to latest: %+v", g.Offsets)
	}

	// A franz-go consumer of the group resumes where the reset put it.
	cl2 := c.Client(kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	fs := cl2.PollRecords(ctx, 1)
	if err := errors.Join(fsErrs(fs)...); err != nil {
		t.Fatal(err)
	}
	if r := fs.Records(); len(r) != 1 || r[0].Partition != 0 || r[0].Offset != 0 {
		t.Fatalf("after the reset a member read %+v, want partition 0 offset 0", r)
	}
	cl2.Close()

	testwait.For(t, 20*time.Second, 100*time.Millisecond, func() error {
		if code, b := api.call("DELETE", "/v1/groups/billing", "", nil); code != 204 {
			return fmt.Errorf("delete: %d %s", code, b)
		}
		return nil
	})
	api.want(404, "GET", "/v1/groups/billing", "", nil)
	api.want(404, "DELETE", "/v1/groups/billing", "", nil)
}

// TestStatelessHTTPConsumer: an HTTP consumer reads from its group's
// committed offset through one gateway and commits through another; a
// franz-go consumer of the same group then starts where it committed.
func TestStatelessHTTPConsumer(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("chat", 1, nil)
	g1, g2 := startGateway(t, c), startGateway(t, c)
	hc := &http.Client{Transport: openapitest.Transport(t, nil), Timeout: 30 * time.Second}
	a1 := &groupClient{t: t, base: g1.URL(), tok: adminToken(t), hc: hc}
	a2 := &groupClient{t: t, base: g2.URL(), tok: adminToken(t), hc: hc}
	for i := range 7 {
		a1.want(200, "POST", "/v1/topics/chat/events", fmt.Sprintf(`{"value":%d}`, i), nil)
	}
	type page struct {
		Events []struct {
			Offset int64
			Value  int
		}
		Next int64 `json:"next_offset"`
	}
	var seen []int
	for i := 0; len(seen) < 7; i++ {
		if i > 10 {
			t.Fatalf("read %v after 10 pages", seen)
		}
		api := []*groupClient{a1, a2}[i%2]
		var p page
		api.want(200, "GET", "/v1/topics/chat/partitions/0/events?group=web&from=committed&limit=3", "", &p)
		for _, e := range p.Events {
			seen = append(seen, e.Value)
		}
		// Commit through the other gateway.
		other := []*groupClient{a1, a2}[(i+1)%2]
		other.want(200, "POST", "/v1/groups/web/offsets", fmt.Sprintf(`{"topic":"chat","partition":0,"offset":%d}`, p.Next), nil)
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4 5 6]" {
		t.Fatalf("read %v, want each event once in order", seen)
	}
	var g groupView
	a2.want(200, "GET", "/v1/groups/web", "", &g)
	if g.State != "Empty" || g.TotalLag != 0 || *g.Offsets[0].Committed != 7 {
		t.Fatalf("group %+v", g)
	}

	a1.want(200, "POST", "/v1/groups/web/offsets", `{"topic":"chat","partition":0,"offset":5}`, nil)
	cl := c.Client(kgo.ConsumerGroup("web"), kgo.ConsumeTopics("chat"), kgo.DisableAutoCommit())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cl.PollRecords(ctx, 1)
	if err := errors.Join(fsErrs(fs)...); err != nil {
		t.Fatal(err)
	}
	if r := fs.Records(); len(r) != 1 || r[0].Offset != 5 {
		t.Fatalf("franz-go member read %+v, want offset 5", r)
	}
}

func fsErrs(fs kgo.Fetches) []error {
	var out []error
	for _, e := range fs.Errors() {
		out = append(out, e.Err)
	}
	return out
}
