// Package openapitest checks HTTP traffic against Runnel's OpenAPI document
// (openapi.yaml, embedded by gateway/openapispec), so that the gateway and
// its contract cannot drift apart unnoticed.
//
// Transport wraps an http.RoundTripper. Every exchange that goes through it
// is checked with kin-openapi's openapi3filter, as OpenAPI 3.1 (JSON Schema
// 2020-12):
//
//   - a request to a method and path the document does not have fails the
//     test;
//   - every response must have a documented status, the documented headers
//     (Retry-After on 429 and 503, say) and a body of the documented media
//     type and schema, or no body where none is documented;
//   - a request the document rejects (missing credentials, a bad parameter,
//     a body of the wrong shape or media type) must get a 4xx answer: tests
//     may send bad requests on purpose, but the server must refuse them.
//
// A mismatch is reported with t.Errorf and the exchange goes on, so one test
// can show several mismatches and the code under test sees the real
// response.
//
// Each exchange is also counted per operation and status. Coverage reports,
// across every Transport of the test binary, which documented responses were
// seen, so a suite can assert that it exercised the whole contract.
//
// Wiring it into REST tests:
//
//	srv := httptest.NewServer(handler) // or the gateway on 127.0.0.1:0
//	client := &http.Client{Transport: openapitest.Transport(t, nil)}
//	resp, err := client.Post(srv.URL+"/v1/topics", "application/json", body)
//
// and, once, after the suite:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		if code == 0 && flag.Lookup("test.run").Value.String() == "" {
//			missing, err := openapitest.Coverage().Missing("* 429", "* 500", "* 503", "openWebSocket *")
//			if err != nil || len(missing) > 0 {
//				fmt.Fprintln(os.Stderr, "responses in openapi.yaml no test exercised:", missing, err)
//				code = 1
//			}
//		}
//		os.Exit(code)
//	}
//
// WebSocket frames do not pass through an http.RoundTripper; CheckClientFrame
// and CheckServerFrame check them against the document's WsClientFrame and
// WsServerFrame schemas. ClientFrameError and ServerFrameError return the
// mismatch instead (wrapping ErrFrameMismatch): for frames a test sends bad
// on purpose, which the document must refuse too, and for reader goroutines
// that may not call t.Errorf once the test has ended. Every WebSocket test
// (wsapi's test client, package gateway's wsSend and wsNext) checks every
// frame it sends and receives.
package openapitest
