package faultharness

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Traffic is a kind of inter-broker traffic with its own proxies.
type Traffic int

const (
	// Raft is the metadata group's traffic (--voters).
	Raft Traffic = iota
	// Kafka is follower fetches from partition leaders (--peer-kafka-addrs).
	Kafka
)

func (t Traffic) String() string {
	if t == Raft {
		return "raft"
	}
	return "kafka"
}

// Network holds one Proxy per ordered pair of brokers (from, to) and kind of
// traffic: the connections broker "from" opens to broker "to" go through
// it. Broker ids are 1..N.
type Network struct {
	n       int
	targets [2][]string   // per traffic, index id-1: the broker's listen address
	proxies [2][][]*Proxy // per traffic, [from-1][to-1], nil on the diagonal
}

// NewNetwork starts the proxies between brokers whose raft and Kafka listen
// addresses are given in id order (raft[0] is broker 1's).
func NewNetwork(raft, kafka []string) (*Network, error) {
	if len(raft) != len(kafka) || len(raft) < 2 {
		return nil, fmt.Errorf("network: want the same number (at least 2) of raft and kafka addresses, got %d and %d", len(raft), len(kafka))
	}
	nw := &Network{n: len(raft), targets: [2][]string{raft, kafka}}
	for tr := range nw.proxies {
		nw.proxies[tr] = make([][]*Proxy, nw.n)
		for from := range nw.n {
			nw.proxies[tr][from] = make([]*Proxy, nw.n)
			for to := range nw.n {
				if from == to {
					continue
				}
				p, err := NewProxy(nw.targets[tr][to])
				if err != nil {
					return nil, errors.Join(err, nw.Close())
				}
				nw.proxies[tr][from][to] = p
			}
		}
	}
	return nw, nil
}

// Size is the number of brokers.
func (nw *Network) Size() int { return nw.n }

// Proxy is the proxy broker "from" dials to reach broker "to" for traffic tr.
func (nw *Network) Proxy(tr Traffic, from, to int) *Proxy { return nw.proxies[tr][from-1][to-1] }

// Voters is the --voters value for broker id: itself at its own raft
// address, every other broker through its proxy.
func (nw *Network) Voters(id int) string {
	var parts []string
	for j := 1; j <= nw.n; j++ {
		addr := nw.targets[Raft][j-1]
		if j != id {
			addr = nw.Proxy(Raft, id, j).Addr()
		}
		parts = append(parts, fmt.Sprintf("%d@%s", j, addr))
	}
	return strings.Join(parts, ",")
}

// PeerKafkaAddrs is the --peer-kafka-addrs value for broker id: every other
// broker's Kafka port through its proxy.
func (nw *Network) PeerKafkaAddrs(id int) string {
	var parts []string
	for j := 1; j <= nw.n; j++ {
		if j != id {
			parts = append(parts, fmt.Sprintf("%d=%s", j, nw.Proxy(Kafka, id, j).Addr()))
		}
	}
	return strings.Join(parts, ",")
}

// links calls f for each proxy between broker id and every other broker,
// with out true for the proxies of connections id opens.
func (nw *Network) links(id int, f func(p *Proxy, out bool)) {
	for tr := range nw.proxies {
		for j := 1; j <= nw.n; j++ {
			if j != id {
				f(nw.proxies[tr][id-1][j-1], true)
				f(nw.proxies[tr][j-1][id-1], false)
			}
		}
	}
}

// Isolate cuts broker id off from every other broker both ways (clients,
// which connect directly, still reach it).
func (nw *Network) Isolate(id int) {
	nw.links(id, func(p *Proxy, _ bool) {
		p.Shape(Forward, Shaping{Cut: true})
		p.Shape(Backward, Shaping{Cut: true})
	})
}

// CutInbound lets broker id send to the others but not receive from them:
// what it sends arrives, answers and messages to it do not.
func (nw *Network) CutInbound(id int) {
	nw.links(id, func(p *Proxy, out bool) {
		if out {
			p.Shape(Backward, Shaping{Cut: true})
		} else {
			p.Shape(Forward, Shaping{Cut: true})
		}
	})
}

// CutOutbound lets broker id receive from the others but not send to them.
func (nw *Network) CutOutbound(id int) {
	nw.links(id, func(p *Proxy, out bool) {
		if out {
			p.Shape(Forward, Shaping{Cut: true})
		} else {
			p.Shape(Backward, Shaping{Cut: true})
		}
	})
}

// Slow shapes every byte to and from broker id with s (latency, bandwidth):
// a slow follower, or a slow leader.
func (nw *Network) Slow(id int, s Shaping) {
	nw.links(id, func(p *Proxy, _ bool) {
		p.Shape(Forward, s)
		p.Shape(Backward, s)
	})
}

// CutLink cuts the connections broker "from" opens to broker "to" for
// traffic tr, both directions: with Kafka, "from" (a follower) cannot fetch
// from "to" (its leader) while raft goes on.
func (nw *Network) CutLink(tr Traffic, from, to int) {
	p := nw.Proxy(tr, from, to)
	p.Shape(Forward, Shaping{Cut: true})
	p.Shape(Backward, Shaping{Cut: true})
}

// Refuse closes and refuses every connection between broker id and the
// others, both ways.
func (nw *Network) Refuse(id int) {
	nw.links(id, func(p *Proxy, _ bool) { p.Refuse() })
}

// Heal lifts every fault between broker id and the others.
func (nw *Network) Heal(id int) {
	nw.links(id, func(p *Proxy, _ bool) { p.Heal() })
}

// HealAll lifts every fault.
func (nw *Network) HealAll() {
	nw.each(func(p *Proxy) { p.Heal() })
}

// Close stops every proxy.
func (nw *Network) Close() error {
	var errs []error
	nw.each(func(p *Proxy) {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

func (nw *Network) each(f func(p *Proxy)) {
	for tr := range nw.proxies {
		for _, row := range nw.proxies[tr] {
			for _, p := range row {
				if p != nil {
					f(p)
				}
			}
		}
	}
}

// Describe lists the proxies as "raft 1->2 127.0.0.1:p -> target", for logs.
func (nw *Network) Describe() string {
	var lines []string
	for tr := range nw.proxies {
		for from, row := range nw.proxies[tr] {
			for to, p := range row {
				if p != nil {
					lines = append(lines, fmt.Sprintf("%s %d->%d %s -> %s", Traffic(tr), from+1, to+1, p.Addr(), p.Target()))
				}
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
