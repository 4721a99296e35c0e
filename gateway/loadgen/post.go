package loadgen

import (
	"errors"
	"fmt"
	"sync"

	"github.com/valyala/fasthttp"
)

// fastPoster posts with fasthttp, reusing one request and one response.
type fastPoster struct {
	client       *fasthttp.Client
	target, auth string
	req          *fasthttp.Request
	resp         *fasthttp.Response
}

func newFastPoster(client *fasthttp.Client, t Target, acks string) *fastPoster {
	return &fastPoster{
		client: client, target: t.eventsURL(acks), auth: "Bearer " + t.Token,
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
	}
}

// release gives the request and response back to fasthttp's pools.
func (p *fastPoster) release() {
	fasthttp.ReleaseRequest(p.req)
	fasthttp.ReleaseResponse(p.resp)
}

// statusError is an answer other than 200 or 202.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %.200s", e.status, e.body) }

func (p *fastPoster) post(body []byte) error {
	req := p.req
	req.Reset()
	req.SetRequestURI(p.target)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", p.auth)
	req.SetBodyRaw(body)
	if err := p.client.Do(req, p.resp); err != nil {
		return err
	}
	if code := p.resp.StatusCode(); code != 200 && code != 202 {
		return &statusError{status: code, body: string(p.resp.Body())}
	}
	return nil
}

// isTransportError says whether err, from post, is a failure to reach the
// gateway rather than an answer.
func isTransportError(err error) bool {
	var se *statusError
	return err != nil && !errors.As(err, &se)
}

// firstFailure keeps the text of the first failure of a run.
type firstFailure struct {
	once sync.Once
	text string
}

func (f *firstFailure) note(err error) {
	f.once.Do(func() { f.text = err.Error() })
}
