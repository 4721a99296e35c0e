package wsapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/origin"
)

// readBufferSize is the socket's read buffer: it must hold a frame header
// and a control frame's payload (125 bytes); gorilla reads a larger frame
// past it.
const readBufferSize = 128

// Handler serves GET /v1/ws. It is safe for concurrent use.
//
// Lock order: Handler.mu, then socket.mu.
type Handler struct {
	cfg      Config
	upgrader websocket.Upgrader
	origins  origin.AllowList
	metrics  *metrics
	hwm      *hwmTable

	mu      sync.Mutex
	closed  bool
	sockets map[*socket]struct{}
	wg      sync.WaitGroup // one per ServeHTTP past the checks

	stopRefresh context.CancelFunc
	refreshDone chan struct{}
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	h := &Handler{
		cfg:     cfg,
		origins: origin.NewAllowList(cfg.AllowedOrigins),
		hwm:     newHWMTable(),
		sockets: make(map[*socket]struct{}),
	}
	h.upgrader = websocket.Upgrader{
		// Client frames are few and small, and a larger message is read
		// past the buffer, straight into the reader's: a small buffer
		// costs an idle socket little.
		ReadBufferSize: readBufferSize,
		// gorilla writes only control frames (its own buffer is not
		// used) and the writer writes to the connection directly; the
		// pool keeps idle sockets from holding a write buffer all the
		// same.
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// ServeHTTP has checked the origin already, with a JSON answer.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			code := apierr.CodeInvalidRequest
			if status >= 500 {
				code = apierr.CodeInternal
			}
			writeError(w, apierr.New(status, code, "WebSocket handshake failed: %v", reason))
		},
	}
	m, err := newMetrics(cfg.Registerer, h)
	if err != nil {
		return nil, err
	}
	h.metrics = m
	ctx, cancel := context.WithCancel(context.Background())
	h.stopRefresh = cancel
	h.refreshDone = make(chan struct{})
	go h.refreshHWM(ctx)
	return h, nil
}

// ServeHTTP checks the origin and, when the request carries one, the token
// (Authorization: Bearer, or ?access_token= for browsers), answering a bad
// one with the JSON error and status the REST API uses; then it upgrades
// and serves the socket until it closes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "%s takes GET with a WebSocket upgrade", r.URL.Path))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !h.origins.Allows(o) && !origin.SameOrigin(o, r.Host) {
		writeError(w, apierr.New(http.StatusForbidden, apierr.CodeForbidden, "%s", origin.Refusal(o)))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, apierr.NotWebSocket(r.URL.Path))
		return
	}
	var principal *auth.Principal
	if token, given, err := requestToken(r); given {
		var p *auth.Principal
		if err == nil {
			p, err = h.cfg.Verifier.Verify(token)
		}
		if err != nil {
			msg := "the token was refused"
			var te *auth.TokenError
			if errors.As(err, &te) {
				msg = te.Msg
			}
			w.Header().Set("WWW-Authenticate", auth.Challenge(msg))
			writeError(w, apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated, "%s", msg))
			return
		}
		principal = p
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		writeError(w, apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "the gateway is shutting down"))
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.wg.Done()
		return // the upgrader has answered
	}
	s := newSocket(h, conn, principal)
	h.mu.Lock()
	closed := h.closed
	h.sockets[s] = struct{}{}
	h.mu.Unlock()
	if closed {
		s.closeWith(websocket.CloseGoingAway, "the gateway is shutting down", false)
	}
	// The socket gets a goroutine of its own and this one returns: net/http's
	// connection state (its buffers, the request, the response) and the
	// deep stack of its handler would otherwise stay with every idle socket.
	go func() {
		defer h.wg.Done()
		s.run()
		h.mu.Lock()
		delete(h.sockets, s)
		h.mu.Unlock()
	}()
}

// Close closes every socket with code 1001 (going away), refuses new ones
// with 503, and waits until every socket's goroutines have exited. Call it
// before closing the Hub, so that clients see a clean close.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	socks := make([]*socket, 0, len(h.sockets))
	for s := range h.sockets {
		socks = append(socks, s)
	}
	h.mu.Unlock()
	for _, s := range socks {
		s.closeWith(websocket.CloseGoingAway, "the gateway is shutting down", false)
	}
	h.wg.Wait()
	h.stopRefresh()
	<-h.refreshDone
	return nil
}

// requestToken returns the bearer token of the Authorization header, else
// the access_token query parameter. given is false when there is neither;
// err is a *auth.TokenError for a header that is not "Bearer <JWT>".
func requestToken(r *http.Request) (token string, given bool, err error) {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		const scheme = "bearer "
		if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
			return "", true, &auth.TokenError{Reason: auth.ErrMalformed, Msg: `the Authorization header must be "Bearer <JWT>"`}
		}
		return strings.TrimSpace(h[len(scheme):]), true, nil
	}
	if q := r.URL.Query(); q.Has("access_token") {
		return q.Get("access_token"), true, nil
	}
	return "", false, nil
}
