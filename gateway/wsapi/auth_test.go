package wsapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestAuthOnUpgrade(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("t", 1, nil)

	c := e.dial("access_token="+e.token(time.Hour, "t"), nil)
	c.subscribe("q", "t", nil)
	c = e.dial("", http.Header{"Authorization": {"Bearer " + e.token(time.Hour, "t")}})
	c.subscribe("h", "t", nil)

	other, err := auth.NewSecretMinter([]byte("another secret, 32 bytes or more!!"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Mint(auth.MintOptions{Admin: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	expired := e.token(time.Second)
	testwait.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := e.h.cfg.Verifier.Verify(expired); !errors.Is(err, auth.ErrExpired) {
			return errors.New("token not expired yet")
		}
		return nil
	})
	for name, tc := range map[string]struct {
		query  string
		header http.Header
	}{
		"garbage query token":  {query: "access_token=garbage"},
		"empty query token":    {query: "access_token="},
		"expired query token":  {query: "access_token=" + expired},
		"foreign query token":  {query: "access_token=" + foreign},
		"garbage bearer":       {header: http.Header{"Authorization": {"Bearer x.y.z"}}},
		"not a bearer":         {header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}},
		"expired bearer token": {header: http.Header{"Authorization": {"Bearer " + expired}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, resp, err := e.tryDial(websocket.DefaultDialer, tc.query, tc.header)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("dial: %v, response %v; want 401", err, resp)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			b, _ := io.ReadAll(resp.Body)
			if json.Unmarshal(b, &body) != nil || body.Error.Code != "unauthenticated" || body.Error.Message == "" {
				t.Fatalf("body %s", b)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate")
			}
		})
	}
}

func TestAuthFirstFrame(t *testing.T) {
	e := newEnv(t, envOptions{limits: Limits{AuthTimeout: time.Second}})
	e.cluster.CreateTopic("t", 1, nil)

	c := e.dial("", nil)
	tok := e.token(time.Hour, "t")
	c.send(map[string]any{"type": "auth", "token": tok})
	expectAuthenticated(t, e, c, tok)
	c.subscribe("s", "t", nil)
	e.produce("t", 0, 0, 1, 0)
	c.expect("event", "s")

	expired := e.token(time.Second)
	testwait.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := e.h.cfg.Verifier.Verify(expired); !errors.Is(err, auth.ErrExpired) {
			return errors.New("token not expired yet")
		}
		return nil
	})
	for name, tc := range map[string]struct {
		first, id string
		bad       bool // the document refuses it too
	}{
		"subscribe first": {`{"type": "subscribe", "id": "s", "topic": "t"}`, "s", false},
		"garbage token":   {`{"type": "auth", "token": "garbage"}`, "", false},
		"expired token":   {`{"type": "auth", "token": "` + expired + `"}`, "", false},
		"no token":        {`{"type": "auth"}`, "", true},
		"not JSON":        {`hello`, "", true},
	} {
		t.Run(name, func(t *testing.T) {
			c := e.dial("", nil)
			c.t = t
			if tc.bad {
				c.sendBad(tc.first)
			} else {
				c.sendRaw(tc.first)
			}
			c.expectError(tc.id, "unauthenticated")
			if code, _ := c.closeCode(); code != 4401 {
				t.Fatalf("close code %d, want openapi.yaml's 4401 (not authenticated)", code)
			}
		})
	}
	t.Run("silence", func(t *testing.T) {
		c := e.dial("", nil)
		c.t = t
		start := time.Now()
		c.expectError("", "unauthenticated")
		if code, _ := c.closeCode(); code != 4401 {
			t.Fatalf("close code %d, want openapi.yaml's 4401 (not authenticated)", code)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("closed after %v, before the auth timeout", d)
		}
	})
}

func TestForbiddenTopic(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("chat.room1", 1, nil)
	e.cluster.CreateTopic("orders", 1, nil)
	c := e.dial("access_token="+e.token(time.Hour, "chat.*"), nil)
	c.send(map[string]any{"type": "subscribe", "id": "o", "topic": "orders"})
	c.expectError("o", "forbidden")
	// Permission is checked before the topic is looked up, so that names
	// of unreadable topics do not leak.
	c.send(map[string]any{"type": "subscribe", "id": "n", "topic": "nope"})
	c.expectError("n", "forbidden")
	c.subscribe("c", "chat.room1", nil)
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("t", 1, nil)
	e.cluster.CreateTopic("u", 1, nil)

	// Unrefreshed: closed with 4001 at exp. A refused refresh changes
	// nothing.
	short := e.token(2 * time.Second)
	p, err := e.h.cfg.Verifier.Verify(short)
	if err != nil {
		t.Fatal(err)
	}
	a := e.dial("access_token="+short, nil)
	a.subscribe("s", "t", nil)
	a.send(map[string]any{"type": "auth", "token": "garbage"})
	if f := a.expectError("", "unauthenticated"); f.Op != "auth" {
		t.Fatalf("a refused refresh: %s, want \"op\": \"auth\"", f.raw)
	}
	code, text := a.closeCode()
	if code != 4001 {
		t.Fatalf("close code %d (%s), want openapi.yaml's 4001 (token expired)", code, text)
	}
	if now := time.Now(); now.Before(p.ExpiresAt) {
		t.Fatalf("closed at %v, before the token's exp %v", now, p.ExpiresAt)
	}

	// Refreshed in time (first frame auth, then a refresh): lives past the
	// first token's exp, and subscriptions the new token may not read end.
	short = e.token(3 * time.Second)
	p, err = e.h.cfg.Verifier.Verify(short)
	if err != nil {
		t.Fatal(err)
	}
	b := e.dial("", nil)
	b.send(map[string]any{"type": "auth", "token": short})
	expectAuthenticated(t, e, b, short)
	b.subscribe("t", "t", nil)
	b.subscribe("u", "u", nil)
	long := e.token(time.Hour, "t")
	b.send(map[string]any{"type": "auth", "token": long})
	// The subscription ended by the refresh is an error without "op": it
	// answers no frame.
	if f := b.expectError("u", "forbidden"); f.Op != "" {
		t.Fatalf("a subscription ended by a refresh: %s, want no \"op\"", f.raw)
	}
	expectAuthenticated(t, e, b, long)
	testwait.For(t, 10*time.Second, 50*time.Millisecond, func() error {
		if time.Now().Before(p.ExpiresAt.Add(time.Second)) {
			return errors.New("first token not expired for a second yet")
		}
		return nil
	})
	e.produce("t", 0, 0, 1, 0)
	b.expect("event", "t")
	b.subscribe("t2", "t", nil)
}

func TestOriginCheck(t *testing.T) {
	e := newEnv(t, envOptions{origins: []string{"https://app.example.com"}})
	tok := "access_token=" + e.token(time.Hour)
	e.dial(tok, http.Header{"Origin": {"https://app.example.com"}})
	e.dial(tok, http.Header{"Origin": {"HTTPS://APP.example.com"}})
	e.dial(tok, nil) // not a browser
	_, resp, err := e.tryDial(websocket.DefaultDialer, tok, http.Header{"Origin": {"https://evil.example.com"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from another origin: %v, %v; want 403", err, resp)
	}
	b, _ := io.ReadAll(resp.Body)
	var body struct{ Error struct{ Code string } }
	if json.Unmarshal(b, &body) != nil || body.Error.Code != "forbidden" {
		t.Fatalf("body %s", b)
	}

	any := newEnv(t, envOptions{origins: []string{"*"}})
	any.dial("access_token="+any.token(time.Hour), http.Header{"Origin": {"https://anywhere.example"}})

	// A page the gateway served itself (the web console) needs no entry:
	// its origin is the host the socket is opened on.
	none := newEnv(t, envOptions{})
	self := "http://" + strings.TrimPrefix(strings.TrimSuffix(none.url, "/v1/ws"), "ws://")
	none.dial("access_token="+none.token(time.Hour), http.Header{"Origin": {self}})
	if _, resp, err := none.tryDial(websocket.DefaultDialer, "access_token="+none.token(time.Hour), http.Header{"Origin": {"https://app.example.com"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from another origin without an allow-list: %v, %v; want 403", err, resp)
	}
}

func TestPingKeepsIdleSocketAlive(t *testing.T) {
	e := newEnv(t, envOptions{limits: Limits{PingInterval: 100 * time.Millisecond, PongWait: time.Second}})
	e.cluster.CreateTopic("t", 1, nil)

	// A reads (so its client answers pings) but sends nothing; B reads
	// nothing, so it never answers a ping.
	a := e.dialAuthed()
	pings := make(chan struct{}, 100)
	a.c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return a.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	frames := make(chan frame, 10)
	go func() {
		for {
			f, err := a.next(time.Minute)
			if err != nil {
				close(frames)
				return
			}
			frames <- f
		}
	}()
	e.dialAuthed()
	start := time.Now()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := e.socketsOpen(); n != 1 {
			return errors.New("the socket that does not answer pings is still open")
		}
		return nil
	})
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if time.Since(start) < 3*time.Second {
			return errors.New("idle for less than 3 pong waits")
		}
		return nil
	})
	if len(pings) < 5 {
		t.Fatalf("%d pings in 3 s", len(pings))
	}
	a.send(map[string]any{"type": "subscribe", "id": "s", "topic": "t"})
	f, ok := <-frames
	if !ok || f.Type != "subscribed" {
		t.Fatalf("idle socket: %v %s", ok, f.raw)
	}
}

func TestHandlerClose(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.cluster.CreateTopic("t", 1, nil)
	c := e.dialAuthed()
	c.subscribe("s", "t", nil)
	done := make(chan error, 1)
	go func() { done <- e.h.Close() }()
	if code, _ := c.closeCode(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, resp, err := e.tryDial(websocket.DefaultDialer, "access_token="+e.token(time.Hour), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v %v, want 503", err, resp)
	}
}

// expectAuthenticated reads the authenticated frame that answers an auth
// frame with tok and checks that it carries tok's exp.
func expectAuthenticated(t *testing.T, e *env, c *client, tok string) {
	t.Helper()
	p, err := e.h.cfg.Verifier.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	f := c.expect("authenticated", "")
	if f.Exp != p.ExpiresAt.Unix() {
		t.Fatalf("%s, want exp %d", f.raw, p.ExpiresAt.Unix())
	}
}
