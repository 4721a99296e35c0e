package httpapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/openapitest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

const (
	testIssuer   = "runnel-test"
	testAudience = "runnel"
)

// testRSAKey is shared: RSA keys are slow to make under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a Server on a real 127.0.0.1 listener over a fakeBackend,
// with a client whose every exchange is checked against openapi.yaml.
type harness struct {
	t       *testing.T
	srv     *Server
	be      *fakeBackend
	base    string
	client  *http.Client // validates against openapi.yaml
	raw     *http.Client // for requests outside the contract (unknown routes)
	minter  *auth.Minter
	rsa     *auth.Minter
	reg     *prometheus.Registry
	logs    *syncBuffer
	serveCh chan error
	closed  sync.Once
}

type harnessOpts struct {
	limits  Limits
	origins []string
	ready   func(context.Context) error
	routes  []Route
	// backend, when set, replaces the fake.
	backend Backend
	// wrap, when set, wraps the listener the server is given.
	wrap func(net.Listener) net.Listener
	// logRequests is Config.LogRequests.
	logRequests bool
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{
		HS256Secret: testSecret,
		PublicKeys:  []crypto.PublicKey{testRSAKey().Public()},
		Issuer:      testIssuer,
		Audience:    testAudience,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, be: newFakeBackend(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}, serveCh: make(chan error, 1)}
	var be Backend = h.be
	if o.backend != nil {
		be = o.backend
	}
	h.srv, err = New(Config{
		Backend:        be,
		Verifier:       v,
		AllowedOrigins: o.origins,
		Registerer:     h.reg,
		Logger:         slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready:          o.ready,
		Limits:         o.limits,
		Routes:         o.routes,
		LogRequests:    o.logRequests,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if h.minter, err = auth.NewSecretMinter(testSecret); err != nil {
		t.Fatal(err)
	}
	if h.rsa, err = auth.NewKeyMinter(testRSAKey()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.base = "http://" + ln.Addr().String()
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	go func() { h.serveCh <- h.srv.Serve(ln) }()
	h.client = &http.Client{Transport: openapitest.Transport(t, nil), Timeout: 20 * time.Second}
	h.raw = &http.Client{Timeout: 20 * time.Second}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() { h.closed.Do(h.shutdown) }

func (h *harness) shutdown() {
	// Both clients go through http.DefaultTransport, which may hold a
	// connection it dialed for a request another connection served
	// first: fasthttp's Shutdown waits 5 s for a connection that never
	// sent a request (as net/http's does). Closing the idle ones ends it.
	h.raw.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-h.serveCh:
		if err != nil {
			h.t.Errorf("Serve: %v", err)
		}
	case <-ctx.Done():
		h.t.Errorf("Serve did not return after Shutdown")
	}
}

// token mints a valid token with the test issuer and audience.
func (h *harness) token(o auth.MintOptions) string {
	h.t.Helper()
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	if o.Issuer == "" {
		o.Issuer = testIssuer
	}
	if o.Audience == "" {
		o.Audience = testAudience
	}
	tok, err := h.minter.Mint(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) admin() string { return h.token(auth.MintOptions{Subject: "root", Admin: true}) }

// signHS256 signs arbitrary claims with secret, for tokens the minter
// refuses to make.
func signHS256(t testing.TB, claims jwt.MapClaims, secret []byte) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "mallory", "iss": testIssuer, "aud": testAudience,
		"iat": time.Now().Add(-time.Minute).Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"runnel": map[string]any{"admin": true},
	}
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorDetail decodes the error body, failing the test when it is not
// the API's error shape.
func (r *response) errorDetail(t testing.TB) map[string]any {
	t.Helper()
	var m struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil || m.Error == nil {
		t.Fatalf("status %d: body is not an error object: %v: %q", r.status, err, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q", ct)
	}
	return m.Error
}

// decode unmarshals a JSON body into v.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d body %q: %v", r.status, r.body, err)
	}
}

// req describes a request; header pairs are name, value.
type req struct {
	method, path, body string
	token              string
	contentType        string
	header             []string
	raw                bool // skip the openapi.yaml check
}

func (h *harness) do(r req) *response {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, h.base+r.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	} else if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(r.header); i += 2 {
		hr.Header.Add(r.header[i], r.header[i+1])
	}
	c := h.client
	if r.raw {
		c = h.raw
	}
	resp, err := c.Do(hr)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantError checks status, code, and that the message holds each of
// mention.
func wantError(t testing.TB, r *response, status int, code string, mention ...string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	e := r.errorDetail(t)
	if e["code"] != code {
		t.Fatalf("code %v, want %s; body %s", e["code"], code, r.body)
	}
	msg, _ := e["message"].(string)
	for _, m := range mention {
		if !strings.Contains(msg, m) {
			t.Fatalf("message %q does not mention %q", msg, m)
		}
	}
	return e
}

func wantStatus(t testing.TB, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// createTopic makes a topic through the API.
func (h *harness) createTopic(name string, partitions int) {
	h.t.Helper()
	r := h.do(req{method: "POST", path: "/v1/topics", token: h.admin(),
		body: `{"name":"` + name + `","partitions":` + itoa(partitions) + `}`})
	wantStatus(h.t, r, http.StatusCreated)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// metricValue reads a counter or a histogram's count from the registry.
func (h *harness) metricValue(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if hg := m.GetHistogram(); hg != nil {
				return float64(hg.GetSampleCount())
			}
		}
	}
	return 0
}

var errNotYet = errors.New("not yet")
