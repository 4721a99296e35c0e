package main

import (
	"net/http"
	"sync/atomic"

	"github.com/runnel-dev/runnel/broker"
)

// operatorAPI serves a node's operator endpoints (broker.Broker.TierHandler)
// on the --metrics address, which listens before the node has started:
// until attach, it answers 503.
type operatorAPI struct {
	h atomic.Pointer[http.Handler]
}

// attach starts serving node's endpoints.
func (o *operatorAPI) attach(node *broker.Node) {
	h := node.Broker.TierHandler()
	o.h.Store(&h)
}

func (o *operatorAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := o.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":{"code":"starting","message":"the broker is starting"}}` + "\n"))
}
