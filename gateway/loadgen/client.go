package loadgen

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// Client names the HTTP client implementation a load publishes with.
type Client string

const (
	// FastHTTP is valyala/fasthttp: it spends a fraction of net/http's CPU
	// per request, so on a machine shared with the gateway the load tool
	// takes little from what it measures. The default.
	FastHTTP Client = "fasthttp"
	// NetHTTP is Go's own net/http client with keep-alive connections:
	// what most services that publish to a gateway use.
	NetHTTP Client = "nethttp"
)

// ParseClient returns the client named s: "fasthttp" or "nethttp".
func ParseClient(s string) (Client, error) {
	switch c := Client(s); c {
	case FastHTTP, NetHTTP:
		return c, nil
	default:
		return "", fmt.Errorf("client %q: want %s or %s", s, FastHTTP, NetHTTP)
	}
}

// fill sets an empty client to FastHTTP and checks any other.
func (c *Client) fill() error {
	if *c == "" {
		*c = FastHTTP
		return nil
	}
	_, err := ParseClient(string(*c))
	return err
}

// poster sends produce requests to one events URL; each worker goroutine
// owns one and posts one request at a time.
type poster interface {
	// post sends body and returns nil when the gateway answered 200 or
	// 202; otherwise the transport error, or a *statusError.
	post(body []byte) error
	// release frees what the poster holds; it is not used after.
	release()
}

// clientPool makes the posters of one load, all sharing one pool of
// keep-alive connections.
type clientPool interface {
	poster(t Target, acks string) poster
	// close closes the idle connections once every poster is released.
	close()
}

// newClientPool returns a pool of up to conns connections of client c
// (filled: FastHTTP or NetHTTP). Idle connections are reused most recently
// used first, as net/http does: at a low rate one warm connection carries
// the requests, as in a service that publishes now and then.
func newClientPool(c Client, conns int) clientPool {
	if c == NetHTTP {
		return newNetPool(conns)
	}
	return &fastPool{client: &fasthttp.Client{
		MaxConnsPerHost:     conns,
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        30 * time.Second,
		MaxIdleConnDuration: time.Minute,
		ConnPoolStrategy:    fasthttp.LIFO,
	}}
}

// fastPool is a fasthttp client.
type fastPool struct{ client *fasthttp.Client }

func (p *fastPool) poster(t Target, acks string) poster { return newFastPoster(p.client, t, acks) }
func (p *fastPool) close()                              { p.client.CloseIdleConnections() }

// netPool is a net/http client whose transport keeps up to conns idle
// connections to the gateway (net/http's default keeps two, which would
// make a concurrent load open and close a connection per request).
type netPool struct{ client *http.Client }

func newNetPool(conns int) *netPool {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
	}
	return &netPool{client: &http.Client{Transport: tr}}
}

func (p *netPool) poster(t Target, acks string) poster { return newNetPoster(p.client, t, acks) }
func (p *netPool) close()                              { p.client.CloseIdleConnections() }
