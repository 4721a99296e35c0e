package loadgen

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxResponseBody bounds what a net/http poster reads of an answer; a
// produce answer is a few hundred bytes. A longer one is cut, and its
// connection closed instead of reused.
const maxResponseBody = 1 << 20

// netPoster posts with net/http the way a service would: a new request
// per POST, the answer read to its end so the connection goes back to
// the pool for the next one.
type netPoster struct {
	client       *http.Client
	target, auth string
	answer       bytes.Buffer
}

func newNetPoster(client *http.Client, t Target, acks string) *netPoster {
	return &netPoster{client: client, target: t.eventsURL(acks), auth: "Bearer " + t.Token}
}

func (p *netPoster) release() {}

func (p *netPoster) post(body []byte) error {
	req, err := http.NewRequest(http.MethodPost, p.target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request to %s: %w", p.target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", p.auth)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	p.answer.Reset()
	_, err = p.answer.ReadFrom(io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	if code := resp.StatusCode; code != 200 && code != 202 {
		return &statusError{status: code, body: p.answer.String()}
	}
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}
