package httpapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/event"
)

// failingBackend answers every call with err.
type failingBackend struct{ err error }

func (f failingBackend) Produce(context.Context, string, backend.Acks, []event.Event, string) ([]backend.Result, error) {
	return nil, f.err
}
func (f failingBackend) Fetch(context.Context, string, int32, int64, backend.FetchOptions) (event.Batch, error) {
	return event.Batch{}, f.err
}
func (f failingBackend) Offsets(context.Context, string, *int64) ([]backend.PartitionOffsets, error) {
	return nil, f.err
}
func (f failingBackend) CreateTopic(context.Context, backend.TopicSpec) (backend.TopicInfo, error) {
	return backend.TopicInfo{}, f.err
}
func (f failingBackend) ListTopics(context.Context) ([]backend.TopicInfo, error) { return nil, f.err }
func (f failingBackend) DescribeTopic(context.Context, string) (backend.TopicInfo, error) {
	return backend.TopicInfo{}, f.err
}
func (f failingBackend) AlterTopic(context.Context, string, backend.TopicChange) (backend.TopicInfo, error) {
	return backend.TopicInfo{}, f.err
}
func (f failingBackend) DeleteTopic(context.Context, string) error { return f.err }
func (f failingBackend) Ready(context.Context) error               { return f.err }
func (f failingBackend) ListGroups(context.Context) ([]backend.GroupSummary, error) {
	return nil, f.err
}
func (f failingBackend) DescribeGroup(context.Context, string) (backend.GroupInfo, error) {
	return backend.GroupInfo{}, f.err
}
func (f failingBackend) CommitGroupOffset(context.Context, string, string, int32, int64) (backend.CommittedOffset, error) {
	return backend.CommittedOffset{}, f.err
}
func (f failingBackend) ResetGroupOffsets(context.Context, string, string, *int32, backend.ResetTo) ([]backend.CommittedOffset, error) {
	return nil, f.err
}
func (f failingBackend) CommittedOffsetOf(context.Context, string, string, int32) (int64, bool, error) {
	return 0, false, f.err
}
func (f failingBackend) DeleteGroup(context.Context, string) error { return f.err }

func (f failingBackend) ListScramUsers(context.Context) ([]backend.ScramUser, error) {
	return nil, f.err
}

func (f failingBackend) SetScramPassword(context.Context, string, string, string, int32) error {
	return f.err
}

func (f failingBackend) DeleteScramCredential(context.Context, string, string) error { return f.err }

// everyRoute is one good request per /v1 route of this package.
var everyRoute = []req{
	{method: "POST", path: "/v1/topics", body: `{"name":"orders"}`},
	{method: "GET", path: "/v1/topics"},
	{method: "GET", path: "/v1/topics/orders"},
	{method: "PATCH", path: "/v1/topics/orders", body: `{"partitions":4}`},
	{method: "DELETE", path: "/v1/topics/orders"},
	{method: "POST", path: "/v1/topics/orders/events", body: `{"value":1}`},
	{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=0"},
	{method: "GET", path: "/v1/topics/orders/offsets"},
	{method: "GET", path: "/v1/groups"},
	{method: "GET", path: "/v1/groups/billing"},
	{method: "DELETE", path: "/v1/groups/billing"},
	{method: "POST", path: "/v1/groups/billing/offsets", body: `{"topic":"orders","partition":0,"offset":5}`},
	{method: "POST", path: "/v1/groups/billing/offsets", body: `{"topic":"orders","to":"earliest"}`},
	{method: "GET", path: "/v1/topics/orders/partitions/0/events?group=billing&from=committed"},
	{method: "GET", path: "/v1/admin/scram-users"},
	{method: "PUT", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512", body: `{"password":"pw"}`},
	{method: "DELETE", path: "/v1/admin/scram-users/alice/SCRAM-SHA-512"},
}

// TestEveryRouteErrors: on every route, the Backend's errors, a missing
// token, an oversize body and the rate limit get their documented status
// and JSON body.
func TestEveryRouteErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: Limits{MaxBodyBytes: 1024}})
	admin := h.admin()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"plain error", fmt.Errorf("dial tcp: connection refused"), 500, "internal_error"},
		{"unavailable", apierr.New(503, apierr.CodeUnavailable, "no leader"), 503, "unavailable"},
		{"unavailable with retry", &apierr.Error{Status: 503, Code: apierr.CodeUnavailable, Message: "not enough replicas", RetryAfter: 2500 * time.Millisecond}, 503, "unavailable"},
		{"deadline", fmt.Errorf("produce: %w", context.DeadlineExceeded), 503, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.srv.be = failingBackend{tc.err}
			for _, r := range everyRoute {
				r.token = admin
				resp := h.do(r)
				wantError(t, resp, tc.status, tc.code)
				if tc.status == 503 {
					want := "1"
					if strings.Contains(tc.name, "retry") {
						want = "3"
					}
					if got := resp.header.Get("Retry-After"); got != want {
						t.Fatalf("%s %s: Retry-After %q, want %s", r.method, r.path, got, want)
					}
				}
				if tc.status == 500 && strings.Contains(string(resp.body), "refused") {
					t.Fatalf("500 leaks its cause: %s", resp.body)
				}
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		for _, r := range everyRoute {
			wantError(t, h.do(r), 401, "unauthenticated")
		}
	})
	t.Run("body too large", func(t *testing.T) {
		for _, r := range everyRoute {
			if r.body == "" {
				continue
			}
			r.token = admin
			r.body = `{"x":"` + strings.Repeat("x", 2000) + `"}`
			wantError(t, h.do(r), 413, "payload_too_large")
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		rl := newHarness(t, harnessOpts{limits: Limits{RatePerSecond: 0.01, Burst: 1}})
		rl.srv.be = failingBackend{fmt.Errorf("unreachable")}
		for i, r := range everyRoute {
			r.token = rl.token(auth.MintOptions{Subject: "subject-" + itoa(i), Admin: true})
			wantStatus(t, rl.do(r), 500)
			resp := rl.do(r)
			wantError(t, resp, 429, "rate_limited")
			if resp.header.Get("Retry-After") != "100" {
				t.Fatalf("Retry-After %q at 0.01/s", resp.header.Get("Retry-After"))
			}
		}
	})
}
