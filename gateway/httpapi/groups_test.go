package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// produceN writes n keyless events to partition p of topic.
func (h *harness) produceN(topic string, p, n int) {
	h.t.Helper()
	events := make([]string, n)
	for i := range events {
		events[i] = `{"value":` + itoa(i) + `,"partition":` + itoa(p) + `}`
	}
	wantStatus(h.t, h.do(req{method: "POST", path: "/v1/topics/" + topic + "/events", token: h.admin(),
		body: `{"events":[` + strings.Join(events, ",") + `]}`}), http.StatusOK)
}

// TestGroupLagAndOffsets: a group's lag is the events produced minus the
// offset committed, commits and resets move it, and a group with live
// members refuses both and its deletion.
func TestGroupLagAndOffsets(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := h.admin()
	h.createTopic("orders", 2)
	h.produceN("orders", 0, 10)
	h.produceN("orders", 1, 4)

	// A stateless HTTP consumer: commits create the group.
	r := h.do(req{method: "POST", path: "/v1/groups/http-readers/offsets", token: admin, body: `{"topic":"orders","partition":0,"offset":7}`})
	wantStatus(t, r, http.StatusOK)
	var res struct{ Offsets []committedJSON }
	r.decode(t, &res)
	if len(res.Offsets) != 1 || res.Offsets[0] != (committedJSON{Topic: "orders", Partition: 0, Offset: 7}) {
		t.Fatalf("commit answered %+v", res)
	}
	r = h.do(req{method: "GET", path: "/v1/groups/http-readers", token: admin})
	wantStatus(t, r, http.StatusOK)
	var g groupJSON
	r.decode(t, &g)
	if g.State != "Empty" || len(g.Members) != 0 || len(g.Offsets) != 1 || g.TotalLag != 3 {
		t.Fatalf("group %+v", g)
	}
	if o := g.Offsets[0]; *o.CommittedOffset != 7 || o.LogEndOffset != 10 || o.Lag != 3 || o.MemberID != nil {
		t.Fatalf("partition 0: %+v, want committed 7, end 10, lag 3", o)
	}
	if o := g.Offsets[0]; o.CommitTimestamp == nil || o.CommitAgeMS == nil || *o.CommitAgeMS < 0 || *o.CommitAgeMS > 60_000 {
		t.Fatalf("partition 0: commit time %v age %v, want a commit just made", o.CommitTimestamp, o.CommitAgeMS)
	}

	// Reset to earliest: every partition; lag is then everything.
	r = h.do(req{method: "POST", path: "/v1/groups/http-readers/offsets", token: admin, body: `{"topic":"orders","to":"earliest"}`})
	wantStatus(t, r, http.StatusOK)
	res.Offsets = nil
	r.decode(t, &res)
	if len(res.Offsets) != 2 || res.Offsets[0].Offset != 0 || res.Offsets[1].Offset != 0 {
		t.Fatalf("reset earliest answered %+v", res)
	}
	r = h.do(req{method: "GET", path: "/v1/groups/http-readers", token: admin})
	g = groupJSON{}
	r.decode(t, &g)
	if g.TotalLag != 14 {
		t.Fatalf("after reset to earliest total lag %d, want 14: %+v", g.TotalLag, g)
	}
	// Latest on one partition, then a time.
	r = h.do(req{method: "POST", path: "/v1/groups/http-readers/offsets", token: admin, body: `{"topic":"orders","partition":1,"to":"latest"}`})
	wantStatus(t, r, http.StatusOK)
	res.Offsets = nil
	r.decode(t, &res)
	if len(res.Offsets) != 1 || res.Offsets[0].Partition != 1 || res.Offsets[0].Offset != 4 {
		t.Fatalf("reset latest answered %+v", res)
	}
	wantStatus(t, h.do(req{method: "POST", path: "/v1/groups/http-readers/offsets", token: admin, body: `{"topic":"orders","to":{"time":0}}`}), http.StatusOK)

	// Listed.
	r = h.do(req{method: "GET", path: "/v1/groups", token: admin})
	wantStatus(t, r, http.StatusOK)
	var list struct{ Groups []groupSummaryJSON }
	r.decode(t, &list)
	if len(list.Groups) != 1 || list.Groups[0].Name != "http-readers" {
		t.Fatalf("list %+v", list)
	}

	// A group with a live member: described with its assignment; commits,
	// resets and deletion refused.
	h.be.addGroup("billing", []backend.GroupMember{{MemberID: "m-1", ClientID: "svc", ClientHost: "/127.0.0.1",
		Assignment: map[string][]int32{"orders": {0, 1}}}}, map[string]map[int32]int64{"orders": {0: 9}})
	r = h.do(req{method: "GET", path: "/v1/groups/billing", token: admin})
	wantStatus(t, r, http.StatusOK)
	g = groupJSON{}
	r.decode(t, &g)
	if g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientHost != "/127.0.0.1" ||
		len(g.Members[0].Assignment) != 1 || len(g.Members[0].Assignment[0].Partitions) != 2 || len(g.Offsets) != 2 {
		t.Fatalf("billing %+v", g)
	}
	if g.Offsets[1].CommitTimestamp != nil || g.Offsets[1].CommitAgeMS != nil {
		t.Fatalf("a partition without a commit has a commit time: %+v", g.Offsets[1])
	}
	if g.Offsets[0].Lag != 1 || g.Offsets[1].CommittedOffset != nil || g.Offsets[1].Lag != 4 || g.TotalLag != 5 || *g.Offsets[1].MemberID != "m-1" {
		t.Fatalf("billing offsets %+v", g.Offsets)
	}
	for _, body := range []string{`{"topic":"orders","partition":0,"offset":1}`, `{"topic":"orders","to":"latest"}`} {
		wantError(t, h.do(req{method: "POST", path: "/v1/groups/billing/offsets", token: admin, body: body}), http.StatusConflict, "group_not_empty", "live members")
	}
	wantError(t, h.do(req{method: "DELETE", path: "/v1/groups/billing", token: admin}), http.StatusConflict, "group_not_empty")

	// Delete the empty one; then it is unknown.
	wantStatus(t, h.do(req{method: "DELETE", path: "/v1/groups/http-readers", token: admin}), http.StatusNoContent)
	wantError(t, h.do(req{method: "GET", path: "/v1/groups/http-readers", token: admin}), http.StatusNotFound, "group_not_found")
	wantError(t, h.do(req{method: "DELETE", path: "/v1/groups/http-readers", token: admin}), http.StatusNotFound, "group_not_found")
}

// TestGroupRoutesRefuse: bad input and missing permissions, each with its
// documented error.
func TestGroupRoutesRefuse(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := h.admin()
	h.createTopic("orders", 1)
	h.produceN("orders", 0, 3)
	consumer := h.token(auth.MintOptions{Subject: "reader", Consume: []string{"orders"}})
	other := h.token(auth.MintOptions{Subject: "other", Consume: []string{"chat.*"}})
	commit := func(tok, body string) *response {
		return h.do(req{method: "POST", path: "/v1/groups/g1/offsets", token: tok, body: body})
	}

	// Permissions.
	wantError(t, h.do(req{method: "GET", path: "/v1/groups", token: consumer}), http.StatusForbidden, "forbidden", "admin")
	wantError(t, h.do(req{method: "DELETE", path: "/v1/groups/g1", token: consumer}), http.StatusForbidden, "forbidden", "admin")
	wantError(t, commit(consumer, `{"topic":"orders","to":"earliest"}`), http.StatusForbidden, "forbidden", "admin")
	wantError(t, commit(other, `{"topic":"orders","partition":0,"offset":1}`), http.StatusForbidden, "forbidden", "orders")
	// A consumer commits and describes its group; another token may not
	// describe it.
	wantStatus(t, commit(consumer, `{"topic":"orders","partition":0,"offset":2}`), http.StatusOK)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/groups/g1", token: consumer}), http.StatusOK)
	wantError(t, h.do(req{method: "GET", path: "/v1/groups/g1", token: other}), http.StatusForbidden, "forbidden", "orders")

	// Bad group ids.
	for _, p := range []string{"/v1/groups/" + strings.Repeat("g", 250), "/v1/groups/a%20b", "/v1/groups/a*b"} {
		wantError(t, h.do(req{method: "GET", path: p, token: admin}), http.StatusBadRequest, "invalid_request", "group")
		wantError(t, h.do(req{method: "DELETE", path: p, token: admin}), http.StatusBadRequest, "invalid_request", "group")
	}
	// Bad bodies.
	for body, mention := range map[string]string{
		`{"partition":0,"offset":1}`:                                `"topic" is required`,
		`{"topic":"orders","offset":1}`:                             `"partition" is required`,
		`{"topic":"orders"}`:                                        `give "offset"`,
		`{"topic":"orders","partition":0,"offset":1,"to":"latest"}`: `not both`,
		`{"topic":"orders","to":"newest"}`:                          `"to" must be`,
		`{"topic":"orders","to":{"time":-1}}`:                       `"to" must be`,
		`{"topic":"orders","to":{"when":1}}`:                        `"to" must be`,
		`{"topic":"orders","to":7}`:                                 `"to" must be`,
		`{"topic":"orders","partition":0,"offset":-1}`:              `"offset"`,
		`{"topic":"no such/topic","partition":0,"offset":1}`:        `topic name`,
		`{"topic":"orders","partition":0,"offset":1,"x":1}`:         `unknown field`,
	} {
		wantError(t, commit(admin, body), http.StatusBadRequest, "invalid_request", mention)
	}
	wantError(t, commit(admin, `{"topic":`), http.StatusBadRequest, "invalid_json")
	wantError(t, h.do(req{method: "POST", path: "/v1/groups/g1/offsets", token: admin, body: `topic=orders`, contentType: "text/plain"}),
		http.StatusUnsupportedMediaType, "unsupported_media_type")
	// Unknown topic and partition; an offset outside the log.
	wantError(t, commit(admin, `{"topic":"nope","partition":0,"offset":1}`), http.StatusNotFound, "topic_not_found")
	wantError(t, commit(admin, `{"topic":"orders","partition":5,"offset":1}`), http.StatusNotFound, "partition_not_found")
	wantError(t, commit(admin, `{"topic":"orders","partition":5,"to":"latest"}`), http.StatusNotFound, "partition_not_found")
	detail := wantError(t, commit(admin, `{"topic":"orders","partition":0,"offset":4}`), http.StatusRequestedRangeNotSatisfiable, "offset_out_of_range")
	if detail["high_watermark"] != float64(3) {
		t.Fatalf("416 detail %v", detail)
	}
	// The coordinator unavailable.
	r := h.do(req{method: "GET", path: "/v1/groups/unavailable", token: admin})
	wantError(t, r, http.StatusServiceUnavailable, "unavailable")
}

// TestFetchFromCommitted: group=g&from=committed reads from the group's
// committed offset, from the log start when it has none, and the
// parameters' misuse is 400.
func TestFetchFromCommitted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	h.produceN("orders", 0, 5)
	tok := h.token(auth.MintOptions{Subject: "reader", Consume: []string{"orders"}})
	fetch := func(query string) *response {
		return h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?" + query, token: tok})
	}
	var res struct {
		Events     []struct{ Offset int64 }
		NextOffset int64 `json:"next_offset"`
	}
	r := fetch("group=readers&from=committed&limit=2")
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &res)
	if len(res.Events) != 2 || res.Events[0].Offset != 0 || res.NextOffset != 2 {
		t.Fatalf("without a commit: %+v, want offsets 0 and 1", res)
	}
	// Reading did not commit: the same again.
	r = fetch("group=readers&from=committed&limit=2")
	r.decode(t, &res)
	if res.Events[0].Offset != 0 {
		t.Fatalf("a read committed: %+v", res)
	}
	wantStatus(t, h.do(req{method: "POST", path: "/v1/groups/readers/offsets", token: tok,
		body: `{"topic":"orders","partition":0,"offset":` + itoa(int(res.NextOffset)) + `}`}), http.StatusOK)
	r = fetch("group=readers&from=committed")
	res.Events = nil
	r.decode(t, &res)
	if len(res.Events) != 3 || res.Events[0].Offset != 2 || res.NextOffset != 5 {
		t.Fatalf("after committing 2: %+v", res)
	}

	for query, mention := range map[string]string{
		"group=readers":                         "go together",
		"from=committed":                        "go together",
		"group=readers&from=latest":             `"committed"`,
		"group=readers&from=committed&offset=1": "not both",
		"group=a%2Fb&from=committed":            "group",
		"":                                      "offset: required",
	} {
		wantError(t, fetch(query), http.StatusBadRequest, "invalid_request", mention)
	}
}
