package main

import (
	"net"

	"github.com/runnel-dev/runnel/broker"
)

// isLoopback reports whether addr (host:port) binds only loopback
// interfaces: an empty host or an unspecified address binds them all, a
// name other than localhost may resolve anywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses a broker that would serve without TLS or SASL on
// an address other hosts can reach (a PLAINTEXT Kafka listener, the raft
// listener without peer TLS, the admin listener, which never
// authenticates), unless --insecure. The error is one line.
func checkExposure(cfg broker.NodeConfig, insecure bool) error {
	if insecure {
		return nil
	}
	type exposed struct{ addr, what, fix string }
	var found []exposed
	// With SASL mechanisms the --kafka listener is SASL_PLAINTEXT.
	if len(cfg.Listeners) == 0 && cfg.SASL == nil && len(cfg.SCRAM) == 0 {
		found = append(found, exposed{cfg.KafkaListen, "Kafka listener --kafka", "use --listeners SSL://" + cfg.KafkaListen +
			" with --tls-cert and --tls-key, or give --sasl-mechanisms"})
	}
	for _, l := range cfg.Listeners {
		if !l.Protocol.UsesTLS() && !l.Protocol.UsesSASL() {
			found = append(found, exposed{l.Listen, "PLAINTEXT listener " + l.Name, "make it SSL (--listener-security-protocol-map " + l.Name + ":SSL, --tls-cert, --tls-key)"})
		}
	}
	if cfg.PeerTLS == nil {
		found = append(found, exposed{cfg.RaftListen, "raft listener --raft", "give --peer-tls-cert, --peer-tls-key and --peer-ca"})
	}
	if cfg.AdminListen != "" {
		found = append(found, exposed{cfg.AdminListen, "admin listener --admin-addr", "bind it to 127.0.0.1"})
	}
	for _, e := range found {
		if !isLoopback(e.addr) {
			return usagef("refusing to serve the %s on %s without TLS or SASL: anyone who reaches it can read, write and delete every topic (or join the cluster); %s, or pass --insecure to accept that",
				e.what, e.addr, e.fix)
		}
	}
	return nil
}
