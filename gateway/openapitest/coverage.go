package openapitest

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Case is one documented response of one operation.
type Case struct {
	// Operation is the operationId, such as "createTopic".
	Operation string
	// Method and Path are as the document writes them: "POST", "/v1/topics".
	Method string
	Path   string
	// Status is the documented HTTP status.
	Status int
}

// String is "createTopic 201 (POST /v1/topics)".
func (c Case) String() string {
	return fmt.Sprintf("%s %d (%s %s)", c.Operation, c.Status, c.Method, c.Path)
}

// Report is how often each documented response was seen.
type Report struct {
	// Hits holds every documented case of the document, with the number of
	// exchanges that produced it; 0 for a case no exchange produced.
	Hits map[Case]int
	// err is why the document could not be read; Missing returns it.
	err error
}

// Missing lists, sorted, the cases no exchange produced, except those that
// match a skip pattern. A pattern is matched, with path.Match, against
// "<operationId> <status>": "* 500" skips every 500, "openWebSocket *" every
// response of openWebSocket. A malformed pattern, or one that matches no
// documented case (a typo, or a response since removed), is an error.
func (r Report) Missing(skip ...string) ([]Case, error) {
	if r.err != nil {
		return nil, r.err
	}
	used := make([]bool, len(skip))
	var missing []Case
	var errs []error
	for c, n := range r.Hits {
		key := c.Operation + " " + strconv.Itoa(c.Status)
		skipped := false
		for i, pattern := range skip {
			ok, err := path.Match(pattern, key)
			if err != nil {
				if !used[i] {
					errs = append(errs, fmt.Errorf("skip pattern %q: %w", pattern, err))
					used[i] = true
				}
				continue
			}
			if ok {
				used[i] = true
				skipped = true
			}
		}
		if n == 0 && !skipped {
			missing = append(missing, c)
		}
	}
	for i, pattern := range skip {
		if !used[i] {
			errs = append(errs, fmt.Errorf("skip pattern %q matches no documented response", pattern))
		}
	}
	slices.SortFunc(missing, compareCases)
	return missing, errors.Join(errs...)
}

// Check reports through t.Errorf every case Missing lists, and any error in
// the skip patterns.
func (r Report) Check(t testing.TB, skip ...string) {
	t.Helper()
	missing, err := r.Missing(skip...)
	if err != nil {
		t.Errorf("openapitest: %v", err)
	}
	for _, c := range missing {
		t.Errorf("openapitest: no exchange produced the documented response %s", c)
	}
}

// String is a table of every case and its count, sorted by path, method
// and status.
func (r Report) String() string {
	cases := make([]Case, 0, len(r.Hits))
	for c := range r.Hits {
		cases = append(cases, c)
	}
	slices.SortFunc(cases, compareCases)
	var b strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&b, "%6d  %s\n", r.Hits[c], c)
	}
	return b.String()
}

func compareCases(a, b Case) int {
	return cmp.Or(
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Method, b.Method),
		cmp.Compare(a.Status, b.Status),
	)
}

// recorder counts exchanges per case. It is safe for concurrent use.
type recorder struct {
	mu   sync.Mutex
	hits map[Case]int
}

// allExchanges counts the exchanges of every Transport in the process.
var allExchanges recorder

func (r *recorder) add(c Case) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hits == nil {
		r.hits = make(map[Case]int)
	}
	r.hits[c]++
}

// report returns the counts of every documented case of s.
func (r *recorder) report(s *spec) Report {
	hits := make(map[Case]int)
	for p, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				code, err := strconv.Atoi(status)
				if err != nil {
					// "default" or a range such as "4XX": the document
					// uses neither, and neither names one status to count.
					continue
				}
				hits[Case{Operation: op.OperationID, Method: method, Path: p, Status: code}] = 0
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, n := range r.hits {
		if _, ok := hits[c]; ok {
			hits[c] = n
		}
	}
	return Report{Hits: hits}
}

// Coverage reports the documented responses seen so far by every Transport
// of the test binary. Call it once the tests that make requests are done.
func Coverage() Report {
	s, err := loadSpec()
	if err != nil {
		return Report{Hits: map[Case]int{}, err: err}
	}
	return allExchanges.report(s)
}
