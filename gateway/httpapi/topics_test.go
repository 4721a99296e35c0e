package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/auth"
)

func TestTopicLifecycle(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := h.admin()

	r := h.do(req{method: "POST", path: "/v1/topics", token: admin,
		body: `{"name":"orders","partitions":3,"replication_factor":1,"config":{"retention.ms":"604800000","cleanup.policy":"delete"}}`})
	wantStatus(t, r, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != "/v1/topics/orders" {
		t.Fatalf("Location %q", loc)
	}
	var topic topicJSON
	r.decode(t, &topic)
	if topic.Name != "orders" || len(topic.Partitions) != 3 || topic.Config["retention.ms"] != "604800000" || topic.ID == "" {
		t.Fatalf("created %+v", topic)
	}

	// Defaults: one partition.
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"chat.room-1"}`}), http.StatusCreated)
	wantStatus(t, h.do(req{method: "POST", path: "/v1/topics", token: admin, body: `{"name":"__internal"}`}), http.StatusCreated)

	r = h.do(req{method: "GET", path: "/v1/topics", token: admin})
	wantStatus(t, r, http.StatusOK)
	var list struct{ Topics []topicJSON }
	r.decode(t, &list)
	if len(list.Topics) != 2 || list.Topics[0].Name != "chat.room-1" || list.Topics[1].Name != "orders" {
		t.Fatalf("list (sorted, internal topics hidden): %+v", list)
	}

	r = h.do(req{method: "GET", path: "/v1/topics/chat.room-1", token: admin})
	wantStatus(t, r, http.StatusOK)
	topic = topicJSON{}
	r.decode(t, &topic)
	if topic.Name != "chat.room-1" || len(topic.Partitions) != 1 || topic.Partitions[0].Replicas == nil {
		t.Fatalf("describe %+v", topic)
	}

	// Grow, change config, remove a key.
	r = h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin,
		body: `{"partitions":5,"config":{"retention.ms":"86400000","cleanup.policy":null}}`})
	wantStatus(t, r, http.StatusOK)
	topic = topicJSON{}
	r.decode(t, &topic)
	if len(topic.Partitions) != 5 || topic.Config["retention.ms"] != "86400000" || topic.Config["cleanup.policy"] != "" {
		t.Fatalf("after PATCH %+v", topic)
	}
	// The same count changes nothing.
	r = h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":5}`})
	wantStatus(t, r, http.StatusOK)
	// A decrease is a conflict.
	r = h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":2}`})
	wantError(t, r, http.StatusConflict, "conflict", "5 partitions", "only grow")

	wantStatus(t, h.do(req{method: "DELETE", path: "/v1/topics/orders", token: admin}), http.StatusNoContent)
	wantError(t, h.do(req{method: "GET", path: "/v1/topics/orders", token: admin}), http.StatusNotFound, "topic_not_found", `"orders"`)
	wantError(t, h.do(req{method: "DELETE", path: "/v1/topics/orders", token: admin}), http.StatusNotFound, "topic_not_found")
	wantError(t, h.do(req{method: "PATCH", path: "/v1/topics/orders", token: admin, body: `{"partitions":9}`}), http.StatusNotFound, "topic_not_found")
}

func TestTopicBadInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	admin := h.admin()
	h.createTopic("orders", 2)
	long := strings.Repeat("a", 250)
	for _, tc := range []struct {
		name, method, path, body, contentType string
		status                                int
		code                                  string
		mention                               []string
	}{
		{"invalid JSON", "POST", "/v1/topics", "{\"name\": \"x\",\n \"partitions\": }", "", 400, "invalid_json", []string{"line 2, column 16 (byte 29)"}},
		{"empty body", "POST", "/v1/topics", " ", "", 400, "invalid_json", []string{"empty"}},
		{"not an object", "POST", "/v1/topics", `["x"]`, "", 400, "invalid_request", []string{"JSON object"}},
		{"no name", "POST", "/v1/topics", `{"partitions":1}`, "", 400, "invalid_request", []string{`"name" is required`}},
		{"unknown field", "POST", "/v1/topics", `{"name":"x","partition":1}`, "", 400, "invalid_request", []string{`unknown field "partition"`}},
		{"null field", "POST", "/v1/topics", `{"name":"x","partitions":null}`, "", 400, "invalid_request", []string{"null"}},
		{"bad name chars", "POST", "/v1/topics", `{"name":"a b"}`, "", 400, "invalid_request", []string{"topic name"}},
		{"name too long", "POST", "/v1/topics", `{"name":"` + long + `"}`, "", 400, "invalid_request", []string{"250 characters"}},
		{"dot name", "POST", "/v1/topics", `{"name":".."}`, "", 400, "invalid_request", []string{"not allowed"}},
		{"reserved name", "POST", "/v1/topics", `{"name":"__consumer_offsets"}`, "", 400, "invalid_request", []string{`"__consumer_offsets" is reserved`}},
		{"reserved metadata log", "POST", "/v1/topics", `{"name":"__cluster_metadata"}`, "", 400, "invalid_request", []string{"reserved"}},
		{"name not string", "POST", "/v1/topics", `{"name":5}`, "", 400, "invalid_request", []string{`"name" must be a string`}},
		{"zero partitions", "POST", "/v1/topics", `{"name":"x","partitions":0}`, "", 400, "invalid_request", []string{"partitions"}},
		{"fractional partitions", "POST", "/v1/topics", `{"name":"x","partitions":1.5}`, "", 400, "invalid_request", []string{"integer"}},
		{"rf too big", "POST", "/v1/topics", `{"name":"x","replication_factor":40000}`, "", 400, "invalid_request", []string{"replication_factor"}},
		{"unknown config", "POST", "/v1/topics", `{"name":"x","config":{"retention.hours":"1"}}`, "", 400, "invalid_request", []string{`unknown key "retention.hours"`}},
		{"config not string", "POST", "/v1/topics", `{"name":"x","config":{"retention.ms":5}}`, "", 400, "invalid_request", []string{"string"}},
		{"config bad value", "POST", "/v1/topics", `{"name":"x","config":{"cleanup.policy":"forever"}}`, "", 400, "invalid_request", []string{`"forever"`}},
		{"config null on create", "POST", "/v1/topics", `{"name":"x","config":{"retention.ms":null}}`, "", 400, "invalid_request", []string{"null"}},
		{"wrong media type", "POST", "/v1/topics", `{"name":"x"}`, "text/plain", 415, "unsupported_media_type", []string{"text/plain"}},
		{"ndjson not for topics", "POST", "/v1/topics", `{"name":"x"}`, "application/x-ndjson", 415, "unsupported_media_type", nil},
		{"backend refuses rf", "POST", "/v1/topics", `{"name":"x","replication_factor":3}`, "", 400, "invalid_request", []string{"replication factor"}},
		{"exists", "POST", "/v1/topics", `{"name":"orders"}`, "", 409, "topic_exists", []string{"orders"}},
		{"describe bad name", "GET", "/v1/topics/a%2Cb", "", "", 400, "invalid_request", []string{"topic name"}},
		{"describe unknown", "GET", "/v1/topics/nope", "", "", 404, "topic_not_found", nil},
		{"patch empty", "PATCH", "/v1/topics/orders", `{}`, "", 400, "invalid_request", []string{"nothing to change"}},
		{"patch bad json", "PATCH", "/v1/topics/orders", `{"partitions":`, "", 400, "invalid_json", []string{"line 1"}},
		{"patch unknown key", "PATCH", "/v1/topics/orders", `{"name":"y"}`, "", 400, "invalid_request", []string{`unknown field "name"`}},
		{"patch bad config", "PATCH", "/v1/topics/orders", `{"config":{"min.insync.replicas":"two"}}`, "", 400, "invalid_request", []string{"min.insync.replicas"}},
		{"patch media type", "PATCH", "/v1/topics/orders", `{"partitions":3}`, "text/csv", 415, "unsupported_media_type", nil},
		{"patch decrease", "PATCH", "/v1/topics/orders", `{"partitions":1}`, "", 409, "conflict", []string{"only grow"}},
		{"delete bad name", "DELETE", "/v1/topics/" + long, "", "", 400, "invalid_request", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(req{method: tc.method, path: tc.path, body: tc.body, contentType: tc.contentType, token: admin})
			wantError(t, r, tc.status, tc.code, tc.mention...)
		})
	}
}

func TestTopicsNeedAdmin(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	// Produce and consume rights on the topic are not enough to manage it,
	// nor to list or describe it.
	tok := h.token(auth.MintOptions{Subject: "svc", Produce: []string{"*"}, Consume: []string{"orders"}})
	for _, r := range []req{
		{method: "POST", path: "/v1/topics", body: `{"name":"x"}`},
		{method: "GET", path: "/v1/topics"},
		{method: "GET", path: "/v1/topics/orders"},
		{method: "GET", path: "/v1/topics/no-such-topic"},
		{method: "PATCH", path: "/v1/topics/orders", body: `{"partitions":2}`},
		{method: "DELETE", path: "/v1/topics/orders"},
	} {
		r.token = tok
		wantError(t, h.do(r), http.StatusForbidden, "forbidden", "admin")
	}
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/orders", token: h.admin()}), http.StatusOK)
}
