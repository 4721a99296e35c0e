package main

import (
	"maps"
	"testing"
)

// TestParsePeerAddrs reads --peer-kafka-addrs and refuses malformed
// entries with a usage error naming them.
func TestParsePeerAddrs(t *testing.T) {
	got, err := parsePeerAddrs("2=127.0.0.1:19092, 3=localhost:19093")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]string{2: "127.0.0.1:19092", 3: "localhost:19093"}; !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, err := parsePeerAddrs(""); err != nil || got != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"2", "0=h:1", "-1=h:1", "x=h:1", "2=host", "2=h:1,2=h:2", "2="} {
		if _, err := parsePeerAddrs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
