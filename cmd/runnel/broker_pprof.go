package main

import (
	"net/http"
	"net/http/pprof"
)

// servePprof mounts the Go runtime profiles of net/http/pprof under
// /debug/pprof/ on mux ("runnel broker --metrics ADDR --pprof"): an
// operator's way to see where a broker spends its CPU or memory, e.g.
// "go tool pprof http://ADDR/debug/pprof/profile?seconds=30". They are
// off by default: profiles show the process's internals, so the metrics
// address should then be reachable by operators only.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
