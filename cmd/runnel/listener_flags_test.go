package main

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker"
)

func TestListenerFlags(t *testing.T) {
	tlsCfg := &tls.Config{}
	f := listenerFlags{
		listeners:   "internal://10.0.0.1:9092,EXTERNAL://:9094,SSL://127.0.0.1:9095",
		advertised:  "EXTERNAL://kafka.example.com:443",
		protocolMap: "INTERNAL:plaintext,EXTERNAL:SSL",
	}
	ls, err := f.config(tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.ListenerConfig{
		{Name: "INTERNAL", Protocol: broker.Plaintext, Listen: "10.0.0.1:9092"},
		{Name: "EXTERNAL", Protocol: broker.SSL, Listen: ":9094", Advertise: "kafka.example.com:443", TLS: tlsCfg},
		{Name: "SSL", Protocol: broker.SSL, Listen: "127.0.0.1:9095", TLS: tlsCfg},
	}
	if len(ls) != len(want) {
		t.Fatalf("listeners %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d: %+v, want %+v", i, ls[i], want[i])
		}
	}

	for _, tc := range []struct {
		f    listenerFlags
		tls  *tls.Config
		want string
	}{
		{listenerFlags{listeners: "INTERNAL://:9092"}, nil, "its security protocol is not known"},
		{listenerFlags{listeners: "SSL://:9092"}, nil, "give --tls-cert and --tls-key"},
		{listenerFlags{listeners: "PLAINTEXT:9092"}, nil, "want NAME://host:port"},
		{listenerFlags{listeners: "PLAINTEXT://:9092,PLAINTEXT://:9093"}, nil, "names PLAINTEXT twice"},
		{listenerFlags{listeners: "PLAINTEXT://:9092", advertised: "SSL://x:1"}, nil, "which --listeners lacks"},
		{listenerFlags{listeners: "A://:9092", protocolMap: "A:TLS"}, nil, "want NAME:PLAINTEXT"},
		{listenerFlags{listeners: "PLAINTEXT://:9092", interBroker: "B"}, nil, "not among --listeners"},
		{listenerFlags{advertised: "PLAINTEXT://x:1"}, nil, "need --listeners"},
	} {
		if _, err := tc.f.config(tc.tls); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error mentioning %q", tc.f, err, tc.want)
		}
	}
}
