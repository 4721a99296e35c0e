package kafkaserver

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestIdleConnectionClosed(t *testing.T) {
	const idle = 300 * time.Millisecond
	hold := make(chan struct{})
	_, addr := startServer(t, Config{
		ConnectionsMaxIdle: idle,
		Handler: basicHandler(func(ctx context.Context, req *Request) (*Response, error, bool) {
			if _, ok := req.Msg.(*kmsg.MetadataRequest); ok && len(req.Msg.(*kmsg.MetadataRequest).Topics) > 0 {
				// A request that takes longer than the idle limit, as a
				// long-poll fetch does.
				select {
				case <-hold:
				case <-ctx.Done():
				}
				return metadataResponse(req), nil, true
			}
			return nil, nil, false
		}),
	})

	// A client that is answered and then says nothing is disconnected.
	quiet := dialRaw(t, "tcp", addr)
	quiet.recv(kmsg.NewPtrMetadataRequest(), quiet.send(kmsg.NewPtrMetadataRequest()))
	start := time.Now()
	quiet.expectClosed()
	if d := time.Since(start); d < idle/2 {
		t.Fatalf("closed %v after the last answer, before the idle limit %v", d, idle)
	}

	// A connection with a request in flight is not idle, however long
	// the request takes; once answered, the clock starts again.
	busy := dialRaw(t, "tcp", addr)
	slow := kmsg.NewPtrMetadataRequest()
	slow.Topics = append(slow.Topics, kmsg.NewMetadataRequestTopic())
	corr := busy.send(slow)
	time.Sleep(3 * idle)
	close(hold)
	busy.recv(slow, corr)
	busy.recv(kmsg.NewPtrMetadataRequest(), busy.send(kmsg.NewPtrMetadataRequest()))
	busy.expectClosed()
}
