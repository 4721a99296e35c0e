package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// recordingTB stands in for the test a Validator reports to, so that tests
// can see the mismatches it finds without failing themselves.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf("FATAL: "+format, args...)
}

func (r *recordingTB) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// reply is what the fake server answers to every request.
type reply struct {
	status int
	header map[string]string
	body   string
}

// jsonReply is a JSON answer.
func jsonReply(status int, body string) reply {
	return reply{status: status, header: map[string]string{"Content-Type": "application/json"}, body: body}
}

// fakeServer answers every request with rep, on 127.0.0.1:0.
func fakeServer(t *testing.T, rep reply) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Drain the body as a real handler would, so the client sees
		// the reply rather than a reset connection.
		io.Copy(io.Discard, r.Body)
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// exchange sends one request through a Validator reporting to a
// recordingTB, and returns what the Validator reported.
func exchange(t *testing.T, rep reply, method, path, contentType, body string, header map[string]string) []string {
	t.Helper()
	url := fakeServer(t, rep)
	rec := &recordingTB{TB: t}
	client := &http.Client{Transport: openapitest.Transport(rec, nil)}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != rep.status || string(got) != rep.body {
		t.Fatalf("the Validator changed the response: got %d %q, want %d %q", resp.StatusCode, got, rep.status, rep.body)
	}
	return rec.errors()
}

// bearer is the header of a request that carries a token. Its content does
// not matter: the document says where credentials go, not which are good.
var bearer = map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}

// wantOne fails unless errs is exactly one report containing every part.
func wantOne(t *testing.T, errs []string, parts ...string) {
	t.Helper()
	if len(errs) != 1 {
		t.Fatalf("want one report, got %d: %q", len(errs), errs)
	}
	for _, p := range parts {
		if !strings.Contains(errs[0], p) {
			t.Errorf("report %q does not mention %q", errs[0], p)
		}
	}
}

// wantNone fails if the Validator reported anything.
func wantNone(t *testing.T, errs []string) {
	t.Helper()
	if len(errs) != 0 {
		t.Fatalf("want no reports, got %q", errs)
	}
}
