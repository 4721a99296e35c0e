package main

import (
	"crypto/tls"
	"flag"
	"net"
	"strings"

	"github.com/runnel-dev/runnel/broker"
)

// listenerFlags are Kafka's listener settings: listeners,
// advertised.listeners, listener.security.protocol.map and
// inter.broker.listener.name.
type listenerFlags struct {
	listeners   string
	advertised  string
	protocolMap string
	interBroker string
}

func (f *listenerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listeners, "listeners", "", "Kafka listeners as `NAME://host:port,...` (listeners); a name that is a protocol (PLAINTEXT, SSL, "+
		"SASL_PLAINTEXT, SASL_SSL) is its own protocol, others need --listener-security-protocol-map; replaces --kafka and --advertise")
	fs.StringVar(&f.advertised, "advertised-listeners", "", "addresses clients of each listener are told, as `NAME://host:port,...` "+
		"(advertised.listeners; default: each listener's bound address)")
	fs.StringVar(&f.protocolMap, "listener-security-protocol-map", "", "security protocol of each listener name, as `NAME:PROTOCOL,...` "+
		"(listener.security.protocol.map), e.g. INTERNAL:SSL,EXTERNAL:SSL")
	fs.StringVar(&f.interBroker, "inter-broker-listener-name", "", "listener other brokers' replica fetchers use (inter.broker.listener.name; "+
		"default: the first of --listeners)")
}

// set reports whether named listeners are configured.
func (f *listenerFlags) set() bool {
	return f.listeners != "" || f.advertised != "" || f.protocolMap != "" || f.interBroker != ""
}

// parseNamedAddrs reads "NAME://host:port,..." (flag is for messages).
func parseNamedAddrs(flagName, s string) ([]string, map[string]string, error) {
	var names []string
	addrs := map[string]string{}
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		name, addr, ok := strings.Cut(v, "://")
		if _, _, err := net.SplitHostPort(addr); !ok || name == "" || err != nil {
			return nil, nil, usagef("--%s entry %q: want NAME://host:port", flagName, v)
		}
		name = strings.ToUpper(name)
		if _, dup := addrs[name]; dup {
			return nil, nil, usagef("--%s names %s twice", flagName, name)
		}
		names = append(names, name)
		addrs[name] = addr
	}
	return names, addrs, nil
}

// config returns the listeners for broker.NodeConfig. tlsCfg is the
// server configuration of the SSL ones (--tls-cert, --tls-key,
// --tls-client-ca); nil when no certificate was given.
func (f *listenerFlags) config(tlsCfg *tls.Config) ([]broker.ListenerConfig, error) {
	if f.listeners == "" {
		return nil, usagef("--advertised-listeners, --listener-security-protocol-map and --inter-broker-listener-name need --listeners")
	}
	names, listen, err := parseNamedAddrs("listeners", f.listeners)
	if err != nil {
		return nil, err
	}
	advertised := map[string]string{}
	if f.advertised != "" {
		if _, advertised, err = parseNamedAddrs("advertised-listeners", f.advertised); err != nil {
			return nil, err
		}
		for name := range advertised {
			if _, ok := listen[name]; !ok {
				return nil, usagef("--advertised-listeners names %s, which --listeners lacks", name)
			}
		}
	}
	protocols := map[string]broker.SecurityProtocol{}
	if f.protocolMap != "" {
		for _, v := range strings.Split(f.protocolMap, ",") {
			name, proto, ok := strings.Cut(strings.TrimSpace(v), ":")
			p := broker.SecurityProtocol(strings.ToUpper(proto))
			if !ok || name == "" || !p.Valid() {
				return nil, usagef("--listener-security-protocol-map entry %q: want NAME:PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", v)
			}
			protocols[strings.ToUpper(name)] = p
		}
	}
	var out []broker.ListenerConfig
	for _, name := range names {
		p, ok := protocols[name]
		if !ok {
			p = broker.SecurityProtocol(name)
			if !p.Valid() {
				return nil, usagef("listener %s: its security protocol is not known: name it in --listener-security-protocol-map, e.g. %s:SSL", name, name)
			}
		}
		l := broker.ListenerConfig{Name: name, Protocol: p, Listen: listen[name], Advertise: advertised[name]}
		if p.UsesTLS() {
			if tlsCfg == nil {
				return nil, usagef("listener %s is %s: give --tls-cert and --tls-key", name, p)
			}
			l.TLS = tlsCfg
		}
		out = append(out, l)
	}
	if f.interBroker != "" {
		if _, ok := listen[strings.ToUpper(f.interBroker)]; !ok {
			return nil, usagef("--inter-broker-listener-name %s is not among --listeners", f.interBroker)
		}
	}
	return out, nil
}
