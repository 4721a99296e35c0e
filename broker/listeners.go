package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// SecurityProtocol is a Kafka listener's security protocol
// (listener.security.protocol.map's values).
type SecurityProtocol string

// Kafka's security protocols.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

// UsesTLS reports whether the protocol runs over TLS.
func (p SecurityProtocol) UsesTLS() bool { return p == SSL || p == SASLSSL }

// UsesSASL reports whether the protocol authenticates with SASL.
func (p SecurityProtocol) UsesSASL() bool { return p == SASLPlaintext || p == SASLSSL }

// Valid reports whether p is one of Kafka's four protocols.
func (p SecurityProtocol) Valid() bool {
	return p == Plaintext || p == SSL || p == SASLPlaintext || p == SASLSSL
}

// ListenerConfig is one Kafka listener of a node (an entry of Kafka's
// listeners, advertised.listeners and listener.security.protocol.map).
type ListenerConfig struct {
	// Name is Kafka's listener name, such as INTERNAL or EXTERNAL:
	// letters, digits and underscores. Metadata answers a client with the
	// brokers' addresses on the listener it connected through.
	Name string
	// Protocol is the listener's security protocol.
	Protocol SecurityProtocol
	// Listen is the address to bind; Listener, if set, is used instead.
	Listen   string
	Listener net.Listener
	// Advertise is the address clients of this listener are told
	// (default: the bound address).
	Advertise string
	// TLS is the server configuration of an SSL or SASL_SSL listener;
	// its ClientAuth decides whether client certificates are required.
	TLS *tls.Config
}

var listenerNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// validateListeners says what is wrong with a node's listeners and its
// inter-broker listener name. withSASL tells whether the node has SASL
// mechanisms: SASL_PLAINTEXT and SASL_SSL listeners need them, and given
// mechanisms need a listener to use them.
func validateListeners(ls []ListenerConfig, interBroker string, withSASL bool) error {
	var errs []error
	seen := map[string]bool{}
	usesSASL := false
	for _, l := range ls {
		switch {
		case !listenerNameRE.MatchString(l.Name):
			errs = append(errs, fmt.Errorf("listener name %q: want 1 to 64 letters, digits or underscores", l.Name))
		case seen[l.Name]:
			errs = append(errs, fmt.Errorf("listener %s is named twice", l.Name))
		}
		seen[l.Name] = true
		switch {
		case !l.Protocol.Valid():
			errs = append(errs, fmt.Errorf("listener %s: unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", l.Name, l.Protocol))
		case l.Protocol.UsesSASL() && !withSASL:
			errs = append(errs, fmt.Errorf("listener %s: %s needs SASL mechanisms, which this node's configuration does not give", l.Name, l.Protocol))
		case l.Protocol.UsesTLS() && l.TLS == nil:
			errs = append(errs, fmt.Errorf("listener %s: %s needs a TLS certificate", l.Name, l.Protocol))
		case !l.Protocol.UsesTLS() && l.TLS != nil:
			errs = append(errs, fmt.Errorf("listener %s: %s does not use TLS, yet a TLS configuration is given", l.Name, l.Protocol))
		}
		usesSASL = usesSASL || l.Protocol.UsesSASL()
		if l.Listener == nil && l.Listen == "" {
			errs = append(errs, fmt.Errorf("listener %s: no listen address", l.Name))
		}
	}
	if withSASL && !usesSASL {
		errs = append(errs, errors.New("SASL mechanisms are given, yet no listener is SASL_PLAINTEXT or SASL_SSL"))
	}
	if interBroker != "" && !seen[interBroker] {
		errs = append(errs, fmt.Errorf("inter-broker listener %s is not among the listeners", interBroker))
	}
	return errors.Join(errs...)
}

// kafkaListener is one bound listener and its server.
type kafkaListener struct {
	cfg    ListenerConfig
	ln     net.Listener
	srv    *kafkaserver.Server
	served chan error
}

// bindListeners binds every listener (or takes the one given), closing
// those bound so far on error.
func bindListeners(ls []ListenerConfig) ([]*kafkaListener, error) {
	out := make([]*kafkaListener, 0, len(ls))
	for _, l := range ls {
		ln := l.Listener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", l.Listen); err != nil {
				closeKafkaListeners(out)
				return nil, fmt.Errorf("kafka listener %s: %w", l.Name, err)
			}
		}
		if l.Advertise == "" {
			l.Advertise = ln.Addr().String()
		}
		out = append(out, &kafkaListener{cfg: l, ln: ln, served: make(chan error, 1)})
	}
	return out, nil
}

func closeKafkaListeners(ls []*kafkaListener) {
	for _, l := range ls {
		l.ln.Close()
	}
}

// endpoints are the named listeners' advertised addresses, registered in
// the metadata; nil for the one unnamed listener of --kafka/--advertise, so
// that such a node registers as before named listeners existed.
func endpoints(ls []*kafkaListener) []metadata.Endpoint {
	var out []metadata.Endpoint
	for _, l := range ls {
		if l.cfg.Name != "" {
			out = append(out, metadata.Endpoint{Name: l.cfg.Name, Addr: l.cfg.Advertise})
		}
	}
	return out
}

// PeerTLS is the mutual TLS between the brokers of a cluster: a raft peer
// or replica fetcher whose certificate the cluster CA did not sign is
// refused during the TLS handshake, before any raft message or Kafka
// request of it is read.
type PeerTLS struct {
	// Server secures the raft listener. Its ClientAuth must be
	// tls.RequireAndVerifyClientCert, with ClientCAs the cluster CA.
	Server *tls.Config
	// Client secures outgoing raft connections and, when the
	// inter-broker listener uses TLS, replica fetches: RootCAs the
	// cluster CA, and this broker's certificate as client certificate.
	Client *tls.Config
}

// validate says what is wrong with p.
func (p *PeerTLS) validate() error {
	switch {
	case p.Server == nil || p.Client == nil:
		return errors.New("peer TLS needs both a server and a client configuration")
	case p.Server.ClientAuth != tls.RequireAndVerifyClientCert || p.Server.ClientCAs == nil:
		return errors.New("peer TLS must require client certificates signed by the cluster CA")
	case p.Client.RootCAs == nil:
		return errors.New("peer TLS must verify peers against the cluster CA (RootCAs)")
	case p.Client.GetClientCertificate == nil && len(p.Client.Certificates) == 0:
		return errors.New("peer TLS needs this broker's certificate to present to its peers")
	}
	return nil
}
