package openapitest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

func TestCoverage(t *testing.T) {
	url := fakeServer(t, reply{status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: "ok\n"})
	rec := &recordingTB{TB: t}
	v := openapitest.Transport(rec, nil)
	client := &http.Client{Transport: v}
	for range 2 {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		resp.Body.Close()
	}
	wantNone(t, rec.errors())

	report := v.Coverage()
	healthz := openapitest.Case{Operation: "healthz", Method: "GET", Path: "/healthz", Status: 200}
	if n := report.Hits[healthz]; n != 2 {
		t.Errorf("hits of %s = %d, want 2", healthz, n)
	}
	createTopic := openapitest.Case{Operation: "createTopic", Method: "POST", Path: "/v1/topics", Status: 201}
	if n, ok := report.Hits[createTopic]; !ok || n != 0 {
		t.Errorf("hits of %s = %d (listed: %v), want 0 and listed", createTopic, n, ok)
	}
	if !strings.Contains(report.String(), "     2  healthz 200 (GET /healthz)") {
		t.Errorf("report does not show the healthz count:\n%s", report)
	}

	missing, err := report.Missing()
	if err != nil {
		t.Fatalf("Missing: %v", err)
	}
	for _, c := range missing {
		if c == healthz {
			t.Errorf("Missing lists %s, which was seen", c)
		}
	}
	if len(missing) != len(report.Hits)-1 {
		t.Errorf("Missing lists %d cases, want every case but one: %d", len(missing), len(report.Hits)-1)
	}

	// Skipping every operation but healthz leaves nothing missing.
	missing, err = report.Missing("[^h]* *")
	if err != nil || len(missing) != 0 {
		t.Errorf("Missing with skips = %v, %v; want none", missing, err)
	}

	if _, err := report.Missing("createTopic 418"); err == nil || !strings.Contains(err.Error(), "matches no documented response") {
		t.Errorf("a skip pattern that matches nothing: err = %v, want one saying so", err)
	}
	if _, err := report.Missing("[ 500"); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("a malformed skip pattern: err = %v, want a syntax error", err)
	}

	// The process-wide report includes this Validator's exchanges.
	if n := openapitest.Coverage().Hits[healthz]; n < 2 {
		t.Errorf("process-wide hits of %s = %d, want at least 2", healthz, n)
	}
}

func TestCoverageCheck(t *testing.T) {
	rec := &recordingTB{TB: t}
	openapitest.Transport(rec, nil).Coverage().Check(rec, "* *", "nothing 1")
	wantOne(t, rec.errors(), `"nothing 1" matches no documented response`)
}
