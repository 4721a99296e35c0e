package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/runnel-dev/runnel/gateway/loadgen"
)

// benchFloorCommand is "runnel bench floor": an HTTP server that does no
// work, to measure a gateway's produce against on the same machine.
func benchFloorCommand() *command {
	var addr string
	router := loadgen.FiberRouter
	return &command{
		name:    "floor",
		summary: "serve HTTP that does no work, as a floor for bench produce",
		help: `Serve HTTP that answers every produce at once with a fixed answer of a
gateway's size, checking and storing nothing, until interrupted. Run
"runnel bench produce" against it (any --token) to see what HTTP alone costs on
this machine, server and client, beside the same run against a gateway:
  runnel bench floor --listen 127.0.0.1:8090 &
  runnel bench produce --url http://127.0.0.1:8090 --token x --server-pid $! \
    --client nethttp --events-per-request 1 --concurrency 16
It sets the gateway's socket deadlines; --router fiber (the default) routes as
the gateway does, --router fasthttp answers from a bare handler.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&addr, "listen", "127.0.0.1:8090", "`address` to serve on")
			fs.Func("router", "`router`: fiber (as the gateway) or fasthttp (a bare handler) (default fiber)", func(s string) (err error) {
				router, err = loadgen.ParseRouter(s)
				return err
			})
		},
		run: func(ctx context.Context, inv *invocation) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usagef("--listen %s: %v", addr, err)
			}
			fmt.Fprintf(inv.stdout, "floor (%s) serving on http://%s\n", router, ln.Addr())
			return loadgen.ServeFloor(ctx, ln, router)
		},
	}
}
