package broker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// maxPeerSASLSteps bounds the messages of one authentication to a peer.
const maxPeerSASLSteps = 8

// authenticate runs SaslHandshake and SaslAuthenticate on a new peer
// connection with mech (Config.PeerSASL), so that a follower can fetch from
// a leader's SASL listener. It records when the session ends: the fetcher
// reconnects before then rather than re-authenticating in place.
func (c *peerConn) authenticate(ctx context.Context, mech sasl.Mechanism) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = mech.Name()
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	if err := c.call(deadline, hs, hsResp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("peer %s: SASL handshake for %s (offered %v): %w", c.nc.RemoteAddr(), mech.Name(), hsResp.SupportedMechanisms, err)
	}
	host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	sess, msg, err := mech.Authenticate(ctx, host)
	if err != nil {
		return fmt.Errorf("peer %s: SASL %s: %w", c.nc.RemoteAddr(), mech.Name(), err)
	}
	start := time.Now()
	for range maxPeerSASLSteps {
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.SetVersion(1)
		au.SASLAuthBytes = msg
		auResp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := c.call(deadline, au, auResp); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(auResp.ErrorCode); err != nil {
			detail := ""
			if auResp.ErrorMessage != nil {
				detail = ": " + *auResp.ErrorMessage
			}
			return fmt.Errorf("peer %s: SASL %s: %w%s", c.nc.RemoteAddr(), mech.Name(), err, detail)
		}
		var done bool
		if done, msg, err = sess.Challenge(auResp.SASLAuthBytes); err != nil {
			return fmt.Errorf("peer %s: SASL %s: %w", c.nc.RemoteAddr(), mech.Name(), err)
		}
		if done {
			if ms := auResp.SessionLifetimeMillis; ms > 0 {
				// Reconnect with a margin, as clients re-authenticate early.
				c.sessionEnd = start.Add(time.Duration(ms) * time.Millisecond * 9 / 10)
			}
			return nil
		}
	}
	return fmt.Errorf("peer %s: SASL %s did not finish in %d steps", c.nc.RemoteAddr(), mech.Name(), maxPeerSASLSteps)
}

// expired reports whether the connection's SASL session is about to end.
func (c *peerConn) expired(now time.Time) bool {
	return !c.sessionEnd.IsZero() && !now.Before(c.sessionEnd)
}
