package faultharness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RESTProducer writes through a gateway with acks=all, one request at a
// time, each with its own Idempotency-Key, retrying a request that failed
// in a way that may have written (5xx, timeouts, broken connections) with
// the same key until it is answered.
type RESTProducer struct {
	Name    string
	URL     string // gateway base URL
	Token   string
	Topic   string
	Batch   int // events per request (default 1)
	History *History
	// Client is the HTTP client (default: 10 s timeout).
	Client *http.Client
	// Retries counts the retried attempts.
	Retries int
}

// restResult is one entry of a produce answer's "results".
type restResult struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Run produces until stop is closed, then finishes the request in flight
// (bounded by ctx), and returns how many events it sent.
func (p *RESTProducer) Run(ctx context.Context, stop <-chan struct{}) (int, error) {
	if p.Batch <= 0 {
		p.Batch = 1
	}
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 10 * time.Second}
	}
	seq := 0
	for req := 0; ; req++ {
		select {
		case <-stop:
			return seq, nil
		case <-ctx.Done():
			return seq, ctx.Err()
		default:
		}
		ids := make([]RecordID, p.Batch)
		for i := range ids {
			ids[i] = RecordID{Producer: p.Name, Seq: seq + i}
		}
		seq += p.Batch
		key := fmt.Sprintf("%s-req-%d", p.Name, req)
		if err := p.produce(ctx, key, ids); err != nil {
			return seq, err
		}
	}
}

// produce sends one request and retries it with the same key until it is
// answered 200 or refused for good (4xx other than 408 and 429: a bug,
// returned as an error).
func (p *RESTProducer) produce(ctx context.Context, key string, ids []RecordID) error {
	body := p.body(ids)
	start := time.Now()
	var attempts []string
	note := func(what string) {
		attempts = append(attempts, fmt.Sprintf("%s +%v: %s", start.UTC().Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), what))
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.Retries++
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("%s: request %s unanswered when the run ended: %w", p.Name, key, ctx.Err())
			}
		}
		status, answer, err := p.post(ctx, key, body)
		switch {
		case err != nil:
			note(err.Error())
			p.History.Failed(fmt.Errorf("rest produce: %w", err))
			continue
		case status == http.StatusOK:
			var r struct {
				Results []restResult `json:"results"`
			}
			if err := json.Unmarshal(answer, &r); err != nil || len(r.Results) != len(ids) {
				return fmt.Errorf("%s: request %s: 200 with %d results for %d events (%v): %s", p.Name, key, len(r.Results), len(ids), err, answer)
			}
			for i, res := range r.Results {
				p.History.Acked(Ack{ID: ids[i], Partition: res.Partition, Offset: res.Offset})
			}
			return nil
		case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
			note(fmt.Sprintf("%d %s", status, errorCode(answer)))
			p.History.Failed(fmt.Errorf("rest produce: %d %s", status, errorCode(answer)))
			continue
		default:
			note(fmt.Sprintf("%d %s", status, answer))
			return &RefusedError{Producer: p.Name, Key: key, IDs: ids, Status: status, Attempts: attempts}
		}
	}
}

// RefusedError is a REST produce refused for good (a 4xx other than 408
// and 429), with the events it carried and every attempt, so that a test
// can look for the events in the log.
type RefusedError struct {
	Producer string
	Key      string
	IDs      []RecordID
	Status   int
	Attempts []string // "start +elapsed: outcome"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: request %s (events %s..%s) refused with %d after attempts:\n    %s",
		e.Producer, e.Key, e.IDs[0], e.IDs[len(e.IDs)-1], e.Status, strings.Join(e.Attempts, "\n    "))
}

func (p *RESTProducer) body(ids []RecordID) []byte {
	type event struct {
		Value string `json:"value"`
	}
	evs := make([]event, len(ids))
	for i, id := range ids {
		evs[i] = event{Value: id.String()}
	}
	b, _ := json.Marshal(map[string][]event{"events": evs})
	return b
}

func (p *RESTProducer) post(ctx context.Context, key string, body []byte) (int, []byte, error) {
	u := strings.TrimSuffix(p.URL, "/") + "/v1/topics/" + url.PathEscape(p.Topic) + "/events?acks=all"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer, err
}

// errorCode is the "code" of an API error body, or the body itself.
func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return e.Error.Code
	}
	return truncate(body, 100)
}
