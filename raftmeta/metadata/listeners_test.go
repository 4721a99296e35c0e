package metadata

import (
	"strings"
	"testing"
)

// TestBrokerListeners: a registration's named listeners are kept, checked,
// survive a snapshot, and ListenerAddr answers by listener name.
func TestBrokerListeners(t *testing.T) {
	f := newFixture(t)
	eps := []Endpoint{{Name: "INTERNAL", Addr: "10.0.0.1:9092"}, {Name: "EXTERNAL", Addr: "broker1.example.com:9094"}}
	f.apply(Record{BrokerRegistered: &BrokerRegistered{ID: 1, Addr: "10.0.0.1:9092", Incarnation: incarnation(1, 0), Listeners: eps}})
	b, _ := f.img.Broker(1)
	for name, want := range map[string]string{"INTERNAL": "10.0.0.1:9092", "EXTERNAL": "broker1.example.com:9094", "": "10.0.0.1:9092"} {
		if got, ok := b.ListenerAddr(name); !ok || got != want {
			t.Fatalf("ListenerAddr(%q) = %q %v, want %q", name, got, ok, want)
		}
	}
	if got, ok := b.ListenerAddr("OTHER"); ok {
		t.Fatalf("ListenerAddr of a listener the broker lacks = %q", got)
	}
	// A broker without named listeners answers every name with Addr.
	f.apply(register(2, ""))
	b2, _ := f.img.Broker(2)
	if got, ok := b2.ListenerAddr("EXTERNAL"); !ok || got != b2.Addr {
		t.Fatalf("ListenerAddr of a broker without listeners = %q %v", got, ok)
	}

	for _, bad := range [][]Endpoint{
		{{Name: "", Addr: "x:1"}},
		{{Name: "A", Addr: ""}},
		{{Name: "A", Addr: "x:1"}, {Name: "A", Addr: "y:1"}},
		{{Name: strings.Repeat("n", maxStringLength+1), Addr: "x:1"}},
		make([]Endpoint, maxEndpoints+1),
	} {
		f.reject(ErrInvalidBroker, Record{BrokerRegistered: &BrokerRegistered{ID: 3, Addr: "x:1", Incarnation: incarnation(3, 0), Listeners: bad}})
	}

	data, err := f.img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	img, err := UnmarshalImage(data)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := img.Broker(1); len(b.Listeners) != 2 || b.Listeners[1] != eps[1] {
		t.Fatalf("listeners after a snapshot: %+v", b.Listeners)
	}
	broken := strings.Replace(string(data), `"name":"EXTERNAL"`, `"name":"INTERNAL"`, 1)
	if _, err := UnmarshalImage([]byte(broken)); err == nil {
		t.Fatal("a snapshot with a broker's listener named twice decoded")
	}
}

// TestListenersFormatVersion: a registration with listeners is encoded at
// format version 3, one without at the version older nodes read.
func TestListenersFormatVersion(t *testing.T) {
	with := Batch{Records: []Record{{BrokerRegistered: &BrokerRegistered{ID: 1, Addr: "x:1", Incarnation: incarnation(1, 0),
		Listeners: []Endpoint{{Name: "A", Addr: "x:1"}}}}}}
	without := Batch{Records: []Record{register(1, "")}}
	for b, want := range map[*Batch]string{&with: `{"v":3,`, &without: `{"v":1,`} {
		data, err := Encode(*b)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), want) {
			t.Fatalf("encoded %s, want prefix %s", data, want)
		}
		if _, err := Decode(data); err != nil {
			t.Fatal(err)
		}
	}
}
