package metadata

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestClusterID checks the ids NewClusterID makes (22 base64url characters
// of 16 random bytes, not starting with "-") and that ClusterIDSet applies
// once, refuses a malformed id, and survives a snapshot.
func TestClusterID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewClusterID()
		b, err := base64.RawURLEncoding.DecodeString(id)
		if len(id) != 22 || err != nil || len(b) != 16 || strings.HasPrefix(id, "-") || seen[id] {
			t.Fatalf("cluster id %q: %d bytes, %v, seen %v", id, len(b), err, seen[id])
		}
		if err := ValidateClusterID(id); err != nil {
			t.Fatal(err)
		}
		seen[id] = true
	}

	f := newFixture(t)
	if f.img.ClusterID() != "" {
		t.Fatalf("new image has cluster id %q", f.img.ClusterID())
	}
	for _, bad := range []string{"", "1", "runnel", strings.Repeat("A", 21), strings.Repeat("A", 23), "AAAAAAAAAAAAAAAAAAAA+/", "AAAAAAAAAAAAAAAAAAAAA="} {
		f.reject(ErrInvalidClusterID, Record{ClusterIDSet: &ClusterIDSet{ID: bad}})
	}
	id := NewClusterID()
	f.apply(Record{ClusterIDSet: &ClusterIDSet{ID: id}})
	if f.img.ClusterID() != id {
		t.Fatalf("cluster id %q after setting %q", f.img.ClusterID(), id)
	}
	f.reject(ErrClusterIDSet, Record{ClusterIDSet: &ClusterIDSet{ID: NewClusterID()}})

	data, err := f.img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	img, err := UnmarshalImage(data)
	if err != nil || img.ClusterID() != id {
		t.Fatalf("from snapshot: cluster id %q, %v; want %q", img.ClusterID(), err, id)
	}
	bad := strings.Replace(string(data), id, "not-an-id", 1)
	if _, err := UnmarshalImage([]byte(bad)); err == nil {
		t.Fatal("a snapshot with a malformed cluster id decoded")
	}
}
