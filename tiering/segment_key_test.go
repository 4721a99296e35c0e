package tiering

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestSegmentKeyRoundTrip(t *testing.T) {
	topic := uuid.MustParse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	for _, cp := range []string{"", "runnel/c1", "runnel/c1/"} {
		k := NewSegmentKey(cp, topic, 7, 1234, 3)
		if err := ValidateKey(k.Object(SegmentLogFile)); err != nil {
			t.Fatalf("key %q invalid: %v", k.Object(SegmentLogFile), err)
		}
		if !strings.HasPrefix(k.String(), PartitionPrefix(cp, topic, 7)) || !strings.HasPrefix(k.String(), TopicPrefix(cp, topic)) {
			t.Fatalf("key %q not under its partition prefix", k)
		}
		for _, file := range []string{"", SegmentIndexFile} {
			key := k.String()
			if file != "" {
				key = k.Object(file)
			}
			got, gotFile, err := ParseSegmentKey(cp, key)
			if err != nil {
				t.Fatalf("ParseSegmentKey(%q): %v", key, err)
			}
			want := k
			want.ClusterPrefix = strings.TrimSuffix(cp, "/")
			if got != want || gotFile != file {
				t.Fatalf("ParseSegmentKey(%q) = %+v %q, want %+v %q", key, got, gotFile, want, file)
			}
		}
	}
	if a, b := NewSegmentKey("", topic, 0, 0, 0), NewSegmentKey("", topic, 0, 0, 0); a.String() == b.String() {
		t.Fatalf("two uploads of one segment share key %q", a)
	}
}

func TestParseSegmentKeyRefusesOtherKeys(t *testing.T) {
	for _, key := range []string{
		"",
		"x/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0/00000000000000000000-0-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/-1/00000000000000000000-0-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0/0-0-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0/00000000000000000000-x-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
		"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0/0/00000000000000000000-0-nope",
		"not-a-uuid/0/00000000000000000000-0-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	} {
		if _, _, err := ParseSegmentKey("", key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseSegmentKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}
