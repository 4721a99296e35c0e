package httpapi

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRouteTableNeedsToken: a path needs a token when a route that is not
// public has it, whatever the method; parameters match one non-empty
// segment; slashes around the path do not count; anything else, including
// more segments than any route has, needs none (fiber answers 404).
func TestRouteTableNeedsToken(t *testing.T) {
	tab := newRouteTable()
	tab.add("POST", "/v1/topics/{topic}/events", false)
	tab.add("GET", "/v1/topics/{topic}/events", false)
	tab.add("GET", "/healthz", true)
	tab.add("GET", "/v1/things/{id}", false)
	tab.add("GET", "/v1/things/{id}", true) // a public route shares the path
	for path, want := range map[string]bool{
		"/v1/topics/orders/events":   true,
		"v1/topics/orders/events/":   true,
		"//v1/topics/orders/events":  true,
		"/v1/topics//events":         false, // empty parameter
		"/v1/topics/orders/events/x": false,
		"/v1/topics/orders":          false,
		"/healthz":                   false,
		"/v1/things/7":               false,
		"/":                          false,
		"":                           false,
		strings.Repeat("/a", 40):     false,
	} {
		if got := tab.needsToken([]byte(path)); got != want {
			t.Errorf("needsToken(%q) = %v, want %v", path, got, want)
		}
	}
	path := []byte("/v1/topics/orders/events")
	if n := testing.AllocsPerRun(100, func() { tab.needsToken(path) }); n != 0 {
		t.Errorf("needsToken allocates %v times per call", n)
	}
}

// TestServerNeedsTokenRequestURI: the head-time check finds the path of
// every form of request target as fiber routes it: the origin form with a
// query or fragment cut off, the absolute form through URI parsing; an
// OPTIONS preflight never needs one.
func TestServerNeedsTokenRequestURI(t *testing.T) {
	s := &Server{table: newRouteTable()}
	s.table.add("POST", "/v1/topics/{topic}/events", false)
	s.table.add("GET", "/healthz", true)
	for _, tc := range []struct {
		method, uri string
		want        bool
	}{
		{"POST", "/v1/topics/orders/events", true},
		{"POST", "/v1/topics/orders/events?acks=all", true},
		{"POST", "/v1/topics/orders/events#x", true},
		{"POST", "/v1/topics/orders/events/?a=/b", true},
		{"POST", "/v1/topics/orders?x=/events", false},
		{"POST", "http://gw.example:8080/v1/topics/orders/events?acks=1", true},
		{"POST", "http://gw.example:8080/healthz", false},
		{"GET", "/healthz?verbose", false},
		{"OPTIONS", "/v1/topics/orders/events", false},
	} {
		var h fasthttp.RequestHeader
		h.SetMethod(tc.method)
		h.SetRequestURI(tc.uri)
		if got := s.needsToken(&h); got != tc.want {
			t.Errorf("%s %s: needsToken = %v, want %v", tc.method, tc.uri, got, tc.want)
		}
	}
}
