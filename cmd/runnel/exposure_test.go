package main

import (
	"crypto/tls"
	"testing"

	"github.com/runnel-dev/runnel/broker"
)

func TestCheckExposure(t *testing.T) {
	peer := &broker.PeerTLS{Server: &tls.Config{}, Client: &tls.Config{}}
	for _, tc := range []struct {
		name     string
		cfg      broker.NodeConfig
		insecure bool
		refused  bool
	}{
		{"loopback plaintext", broker.NodeConfig{KafkaListen: "127.0.0.1:9092", RaftListen: "[::1]:9093", AdminListen: "localhost:9094"}, false, false},
		{"exposed plaintext", broker.NodeConfig{KafkaListen: "0.0.0.0:9092", RaftListen: "127.0.0.1:9093"}, false, true},
		{"exposed plaintext, insecure", broker.NodeConfig{KafkaListen: "0.0.0.0:9092", RaftListen: "0.0.0.0:9093"}, true, false},
		{"hostname is not loopback", broker.NodeConfig{KafkaListen: "broker1:9092", RaftListen: "127.0.0.1:9093"}, false, true},
		{"exposed SSL and peer TLS", broker.NodeConfig{RaftListen: "0.0.0.0:9093", PeerTLS: peer,
			Listeners: []broker.ListenerConfig{{Name: "SSL", Protocol: broker.SSL, Listen: ":9092"}, {Name: "LOCAL", Protocol: broker.Plaintext, Listen: "127.0.0.1:9095"}}}, false, false},
		{"exposed raft without peer TLS", broker.NodeConfig{RaftListen: "0.0.0.0:9093",
			Listeners: []broker.ListenerConfig{{Name: "SSL", Protocol: broker.SSL, Listen: ":9092"}}}, false, true},
		{"exposed --kafka with SASL", broker.NodeConfig{KafkaListen: "0.0.0.0:9092", RaftListen: "0.0.0.0:9093", PeerTLS: peer, SCRAM: []string{"SCRAM-SHA-512"}}, false, false},
		{"exposed SASL_PLAINTEXT listener", broker.NodeConfig{RaftListen: "0.0.0.0:9093", PeerTLS: peer, SCRAM: []string{"SCRAM-SHA-512"},
			Listeners: []broker.ListenerConfig{{Name: "SASL_PLAINTEXT", Protocol: broker.SASLPlaintext, Listen: ":9092"}}}, false, false},
		{"exposed PLAINTEXT beside SASL", broker.NodeConfig{RaftListen: "0.0.0.0:9093", PeerTLS: peer, SCRAM: []string{"SCRAM-SHA-512"},
			Listeners: []broker.ListenerConfig{{Name: "SASL_SSL", Protocol: broker.SASLSSL, Listen: ":9092"}, {Name: "PLAINTEXT", Protocol: broker.Plaintext, Listen: ":9095"}}}, false, true},
		{"exposed admin", broker.NodeConfig{KafkaListen: "127.0.0.1:9092", RaftListen: "127.0.0.1:9093", AdminListen: ":9094"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkExposure(tc.cfg, tc.insecure)
			if (err != nil) != tc.refused {
				t.Fatalf("checkExposure: %v, want refused=%v", err, tc.refused)
			}
		})
	}
}
