package httpapi

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/runnel-dev/runnel/gateway/openapitest"
)

// TestMain checks, after a full run, that the tests produced every
// response openapi.yaml documents for the routes of this package.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		missing, err := openapitest.Coverage().Missing(coverageSkips...)
		if err != nil || len(missing) > 0 {
			fmt.Fprintln(os.Stderr, "responses in openapi.yaml no test exercised:", missing, err)
			code = 1
		}
	}
	os.Exit(code)
}

// coverageSkips are the documented responses these tests do not produce:
// the WebSocket is another package's, and the fake Backend's errors are
// exercised on one route each rather than on every route.
var coverageSkips = []string{
	"openWebSocket *",
	// Damaged stored data needs a broker: package gateway's
	// TestDamagedStoredBatchIsReportedAndSkipped checks the 410 against
	// the document.
	"fetchEvents 410",
}
