package kafkaserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
)

// handshake completes the TLS handshake of a connection on a TLS listener
// within Config.TLSHandshakeTimeout and records its state in c.info. It
// reports false, having closed the connection, when the handshake fails:
// a client speaking plaintext Kafka gets a closed connection at once (its
// first bytes are not a TLS record), a silent one after the timeout.
// Connections on listeners without TLS pass through.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.s.m.error(-1)
		if errors.Is(err, io.EOF) || c.s.ctx.Err() != nil {
			c.log.Debug("kafka connection closed during the TLS handshake", "err", err)
		} else {
			c.log.Info("kafka connection closed: TLS handshake failed", "err", err)
		}
		c.shutdown()
		return false
	}
	st := tc.ConnectionState()
	c.info.TLS = &st
	return true
}
