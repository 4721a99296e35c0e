package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestOperatorAPIBeforeStart: the operator endpoints answer 503 with a JSON
// error until the node has started.
func TestOperatorAPIBeforeStart(t *testing.T) {
	var ops operatorAPI
	rec := httptest.NewRecorder()
	ops.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/tier/segments?topic=x", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"code":"starting"`) {
		t.Fatalf("before start: %d %v %s", rec.Code, rec.Header(), rec.Body.String())
	}
}
