package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// Validator is an http.RoundTripper that checks every exchange against the
// document; see the package comment. It is safe for concurrent use.
type Validator struct {
	t     testing.TB
	base  http.RoundTripper
	spec  *spec
	local recorder
}

// Transport returns a Validator that sends requests through base
// (http.DefaultTransport when nil) and reports to t every way in which a
// request or response departs from openapi.yaml. It fails t at once if the
// document cannot be read.
func Transport(t testing.TB, base http.RoundTripper) *Validator {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &Validator{t: t, base: base, spec: s}
}

// Coverage reports the documented responses this Validator has seen.
func (v *Validator) Coverage() Report {
	return v.local.report(v.spec)
}

// RoundTrip sends req through the base transport and checks the request
// and its response. Mismatches go to t.Errorf; the response is returned
// as the base transport gave it, its body intact.
func (v *Validator) RoundTrip(req *http.Request) (*http.Response, error) {
	if v.spec == nil {
		return nil, errors.New("openapitest: the Validator has no document; see the test's earlier failure")
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
	}
	out := withBody(req, body)
	exchange := req.Method + " " + req.URL.RequestURI()

	route, pathParams, routeErr := v.spec.router.FindRoute(withBody(req, body))
	if routeErr != nil {
		v.t.Errorf("openapitest: %s: not a route of openapi.yaml: %v", exchange, routeErr)
		return v.base.RoundTrip(out)
	}
	// The request as the server gets it: the standard library adds
	// Content-Length and Host on the wire, and tests often leave
	// Content-Length to it.
	in := withBody(req, body)
	in.ContentLength = int64(len(body))
	reqInput := &openapi3filter.RequestValidationInput{
		Request:    in,
		PathParams: pathParams,
		Route:      route,
		Options:    v.options(false),
	}
	reqErr := openapi3filter.ValidateRequest(req.Context(), reqInput)

	resp, err := v.base.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	exchange = fmt.Sprintf("%s → %d", exchange, resp.StatusCode)

	if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode > 499) {
		v.t.Errorf("openapitest: %s: the server accepted a request openapi.yaml rejects (want a 4xx): %v",
			exchange, reqErr)
	}

	var respBody []byte
	upgraded := resp.StatusCode == http.StatusSwitchingProtocols
	if !upgraded && resp.Body != nil {
		respBody, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
		if err != nil {
			return nil, fmt.Errorf("openapitest: %s: read response body: %w", exchange, err)
		}
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                v.options(upgraded),
	}
	respInput.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.WithoutCancel(req.Context()), respInput); err != nil {
		v.t.Errorf("openapitest: %s: the response departs from openapi.yaml: %v\n  body: %.500s", exchange, err, respBody)
	} else if documented := route.Operation.Responses.Status(resp.StatusCode); documented != nil &&
		len(documented.Value.Content) == 0 && len(respBody) > 0 {
		v.t.Errorf("openapitest: %s: openapi.yaml documents no body, got %d bytes: %.500s", exchange, len(respBody), respBody)
	}

	if route.Operation.Responses.Status(resp.StatusCode) != nil {
		c := Case{Operation: route.Operation.OperationID, Method: route.Method, Path: route.Path, Status: resp.StatusCode}
		v.local.add(c)
		allExchanges.add(c)
	}
	return resp, nil
}

// options are the checks: undocumented statuses fail, credentials must be
// present where the document asks for them, and nothing is written back
// into the request. An upgraded response's body is the connection itself,
// never read.
func (v *Validator) options(upgraded bool) *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus:             true,
		RejectWhenRequestBodyNotSpecified: true,
		SkipSettingDefaults:               true,
		ExcludeResponseBody:               upgraded,
		AuthenticationFunc:                checkCredentials,
		SchemaValidationOptions:           schemaOptions,
	}
}

// checkCredentials says whether the request carries the credentials a
// security scheme names. Whether they are good is the server's business;
// the document only says where they go.
func checkCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req := in.RequestValidationInput.Request
	scheme := in.SecurityScheme
	switch {
	case scheme.Type == "http" && strings.EqualFold(scheme.Scheme, "bearer"):
		auth := req.Header.Get("Authorization")
		if len(auth) <= len("Bearer ") || !strings.EqualFold(auth[:len("Bearer ")], "Bearer ") {
			return in.NewError(errors.New("no Authorization: Bearer header"))
		}
		return nil
	case scheme.Type == "apiKey":
		var present bool
		switch scheme.In {
		case openapi3.ParameterInQuery:
			present = req.URL.Query().Get(scheme.Name) != ""
		case openapi3.ParameterInHeader:
			present = req.Header.Get(scheme.Name) != ""
		case openapi3.ParameterInCookie:
			_, err := req.Cookie(scheme.Name)
			present = err == nil
		}
		if !present {
			return in.NewError(fmt.Errorf("no %s %q", scheme.In, scheme.Name))
		}
		return nil
	default:
		return in.NewError(fmt.Errorf("openapitest cannot check security scheme %q of type %q", in.SecuritySchemeName, scheme.Type))
	}
}

// withBody returns a shallow copy of req reading body, replayable.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body == nil {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return r
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r
}

var _ http.RoundTripper = (*Validator)(nil)
