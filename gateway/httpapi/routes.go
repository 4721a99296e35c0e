package httpapi

import (
	"bytes"
	"slices"
	"strings"
)

// routeUnmatched labels requests that matched no route, in metrics and
// logs, so that probing random paths cannot blow up label cardinality.
const routeUnmatched = "unmatched"

// routePreflight labels OPTIONS requests, answered before routing.
const routePreflight = "options"

// routeTable knows every served method and path, in openapi.yaml's form,
// to answer 405 with Allow and to label requests by route pattern.
type routeTable struct {
	entries []tableEntry
	// labels maps fiber's path pattern to openapi.yaml's.
	labels map[string]string
}

type tableEntry struct {
	method string
	segs   []string // "" for a parameter
	public bool     // served without a token
}

func newRouteTable() *routeTable { return &routeTable{labels: map[string]string{}} }

// add records a route and returns fiber's form of its path.
func (t *routeTable) add(method, path string, public bool) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	fiberSegs := make([]string, len(segs))
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			fiberSegs[i] = ":" + s[1:len(s)-1]
			segs[i] = ""
		} else {
			fiberSegs[i] = s
		}
	}
	t.entries = append(t.entries, tableEntry{method: method, segs: segs, public: public})
	fp := "/" + strings.Join(fiberSegs, "/")
	t.labels[fp] = path
	return fp
}

// label is the openapi.yaml path of a fiber route pattern, or
// routeUnmatched.
func (t *routeTable) label(fiberPath string) string {
	if l, ok := t.labels[fiberPath]; ok {
		return l
	}
	return routeUnmatched
}

// allowed lists the methods served on path, sorted, with HEAD beside GET
// and OPTIONS (CORS) on every path; nil when no route has that path.
func (t *routeTable) allowed(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, e := range t.entries {
		if !matchSegs(e.segs, segs) {
			continue
		}
		out = append(out, e.method)
		if e.method == "GET" {
			out = append(out, "HEAD")
		}
	}
	if len(out) == 0 {
		return nil
	}
	out = append(out, "OPTIONS")
	slices.Sort(out)
	return slices.Compact(out)
}

// needsToken reports whether path is served only to requests with a
// token: some route has it and none of its routes is public. The method
// does not matter, so that a request that will be answered 405 is treated
// as the path's routes are. It allocates nothing and splits path once: it
// runs for every request with a body.
func (t *routeTable) needsToken(path []byte) bool {
	var buf [maxPathSegs][]byte
	segs, ok := splitPath(path, buf[:0])
	if !ok {
		return false // more segments than any route has
	}
	found := false
	for _, e := range t.entries {
		if matchSegBytes(e.segs, segs) {
			if e.public {
				return false
			}
			found = true
		}
	}
	return found
}

// maxPathSegs bounds the segments splitPath returns; every route has fewer.
const maxPathSegs = 16

// splitPath appends the segments of path, without its leading and trailing
// slashes, to segs, as strings.Split would; false when there are more than
// cap(segs).
func splitPath(path []byte, segs [][]byte) ([][]byte, bool) {
	rest := bytes.Trim(path, "/")
	for {
		if len(segs) == cap(segs) {
			return segs, false
		}
		seg, tail, more := bytes.Cut(rest, []byte("/"))
		segs = append(segs, seg)
		if !more {
			return segs, true
		}
		rest = tail
	}
}

// matchSegBytes is matchSegs for segments as bytes.
func matchSegBytes(pattern []string, segs [][]byte) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if p == "" && len(segs[i]) == 0 || p != "" && string(segs[i]) != p {
			return false
		}
	}
	return true
}

func matchSegs(pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if p == "" {
			if segs[i] == "" {
				return false
			}
		} else if p != segs[i] {
			return false
		}
	}
	return true
}
