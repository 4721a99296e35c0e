package broker

import (
	"net"
	"strconv"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// advertisedOn returns the host and port br advertises on the Kafka
// listener named listener, the one the client's request arrived on (see
// metadata.Broker.ListenerAddr): as Kafka does, each client is told the
// addresses of its own listener. It reports false when br has no such
// listener, or an address that does not parse (registration checks them;
// a broken one is never advertised).
func advertisedOn(br metadata.Broker, listener string) (string, int32, bool) {
	addr, ok := br.ListenerAddr(listener)
	if !ok {
		return "", 0, false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, false
	}
	return host, int32(p), true
}
