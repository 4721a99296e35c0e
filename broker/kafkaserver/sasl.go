package kafkaserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslState is a connection's authentication state. Only the reader
// goroutine touches it: SASL requests are answered there, in arrival order,
// so every later request sees their outcome.
type saslState struct {
	mech Mechanism // chosen by the last SaslHandshake; nil before
	ex   Exchange  // exchange under way; nil when none
	// raw is set by SaslHandshake v0: the exchange's messages then come
	// as bare size-prefixed frames, not SaslAuthenticate requests.
	raw bool
	id  *Identity // nil until the first successful authentication
	// sessionEnd is when the session must have been renewed; zero when
	// nothing bounds it.
	sessionEnd time.Time
}

// errSASLClose is returned by decode with a done slot that must be written
// before the connection closes: a failed authentication, answered as Kafka
// does, then closed.
var errSASLClose = errors.New("sasl: closing after the answer")

// MaxUnauthenticatedFrame bounds a request frame on a SASL listener before
// the connection has authenticated (Kafka's sasl.server.max.receive.size):
// a bigger size prefix closes the connection before anything is read, so
// that strangers cannot make the broker buffer MaxRequestBytes.
const MaxUnauthenticatedFrame = 512 << 10

// checkUnauthenticatedSize refuses a frame of n bytes from a connection
// that has not authenticated on a SASL listener, if it is too large.
func (c *conn) checkUnauthenticatedSize(n int) error {
	if c.s.cfg.SASL != nil && c.sasl.id == nil && n > MaxUnauthenticatedFrame {
		return fmt.Errorf("%d-byte frame before SASL authentication; at most %d", n, MaxUnauthenticatedFrame)
	}
	return nil
}

// saslAPIs are the versions of the SASL APIs the server answers itself.
var saslAPIs = map[int16]VersionRange{
	saslHandshakeKey:    {Min: 0, Max: 1},
	saslAuthenticateKey: {Min: 0, Max: 2},
}

// offered returns the mechanisms this connection may use: those needing TLS
// only on TLS connections.
func (c *conn) offered() []string {
	var names []string
	for _, m := range c.s.cfg.SASL.Mechanisms {
		if !m.RequiresTLS() || c.info.TLS != nil {
			names = append(names, m.Name())
		}
	}
	return names
}

// authorizeRequest decides, on a SASL listener, whether a request other
// than ApiVersions and the SASL ones may go to the handler: only on an
// authenticated connection whose session has not ended.
func (c *conn) authorizeRequest(hdr requestHeader) error {
	st := &c.sasl
	switch {
	case st.id == nil:
		return fmt.Errorf("%s request before SASL authentication", kmsg.NameForKey(hdr.key))
	case !st.sessionEnd.IsZero() && !c.s.now().Before(st.sessionEnd):
		return fmt.Errorf("%s request after the SASL session ended at %s without re-authentication",
			kmsg.NameForKey(hdr.key), st.sessionEnd.UTC().Format(time.RFC3339))
	}
	return nil
}

// saslHandshake answers a SaslHandshake: it picks the mechanism of the
// exchange that follows. An unknown mechanism, one that needs TLS on a
// plaintext connection, another mechanism than the session's on
// re-authentication, or a handshake in the middle of an exchange is
// answered with an error and closes the connection.
func (c *conn) saslHandshake(req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.offered()
	st := &c.sasl
	if st.ex != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, fmt.Errorf("%w: SaslHandshake in the middle of an exchange", errSASLClose)
	}
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, fmt.Errorf("%w: mechanism %q is not offered on this listener", errSASLClose, req.Mechanism)
	}
	if st.id != nil && st.id.Mechanism != req.Mechanism {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, fmt.Errorf("%w: re-authentication with %s, the session used %s", errSASLClose, req.Mechanism, st.id.Mechanism)
	}
	for _, m := range c.s.cfg.SASL.Mechanisms {
		if m.Name() == req.Mechanism {
			st.mech = m
		}
	}
	st.ex = st.mech.Start(c.info)
	st.raw = req.Version == 0
	return resp, nil
}

// saslStep feeds one client message to the exchange under way. It returns
// the reply to send, and an error (the message for the client) when the
// exchange failed; done reports a successful authentication.
func (c *conn) saslStep(msg []byte) (reply []byte, lifetime time.Duration, err error) {
	st := &c.sasl
	if st.ex == nil {
		return nil, 0, errors.New("SaslAuthenticate without a SaslHandshake before it")
	}
	reply, id, err := st.ex.Next(c.ctx, msg)
	defer func() {
		if err != nil || id != nil {
			result := "ok"
			if err != nil {
				result = "failed"
			}
			c.s.m.saslAuths.WithLabelValues(st.mech.Name(), result).Inc()
		}
	}()
	if err != nil {
		st.ex = nil
		return nil, 0, err
	}
	if id == nil {
		return reply, 0, nil
	}
	st.ex, st.raw = nil, false
	now := c.s.now()
	if st.id != nil && st.id.Name != id.Name {
		return nil, 0, fmt.Errorf("re-authentication as %q, the session is %q", id.Name, st.id.Name)
	}
	lifetime = c.s.cfg.SASL.MaxReauth
	if !id.Expires.IsZero() {
		left := id.Expires.Sub(now)
		if left <= 0 {
			return nil, 0, errors.New("credential has expired")
		}
		if lifetime == 0 || left < lifetime {
			lifetime = left
		}
	}
	st.id = id
	st.sessionEnd = time.Time{}
	if lifetime > 0 {
		st.sessionEnd = now.Add(lifetime)
	}
	c.log.Debug("kafka SASL authenticated", "mechanism", id.Mechanism, "principal", id.Name, "session", lifetime)
	return reply, lifetime, nil
}

// saslAuthenticate answers a SaslAuthenticate. A failure is answered with
// SASL_AUTHENTICATION_FAILED (ILLEGAL_SASL_STATE without a handshake) and
// closes the connection after the answer.
func (c *conn) saslAuthenticate(req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.sasl.ex == nil || c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate must follow a SaslHandshake v1"
		resp.ErrorMessage = &msg
		return resp, fmt.Errorf("%w: %s", errSASLClose, msg)
	}
	reply, lifetime, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		c.log.Info("kafka SASL authentication failed", "mechanism", c.sasl.mech.Name(), "err", err)
		return resp, fmt.Errorf("%w: %w", errSASLClose, err)
	}
	resp.SASLAuthBytes = reply
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return resp, nil
}

// saslRaw handles a bare SASL message after SaslHandshake v0 and returns
// the size-prefixed reply. A failure closes the connection without a
// reply, as Kafka does.
func (c *conn) saslRaw(frame []byte) ([]byte, error) {
	reply, _, err := c.saslStep(frame)
	if err != nil {
		c.log.Info("kafka SASL authentication failed", "mechanism", c.sasl.mech.Name(), "err", err)
		return nil, fmt.Errorf("sasl: %w", err)
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(reply)), uint32(len(reply)))
	return append(out, reply...), nil
}
