package metadata

import (
	"encoding/base64"
	"strings"

	"github.com/google/uuid"
)

// clusterIDLength is the length of a cluster id: 16 bytes in unpadded
// base64url.
const clusterIDLength = 22

// NewClusterID returns a random cluster id as Kafka makes them
// (Uuid.randomUuid().toString()): 16 random bytes in unpadded base64url,
// 22 characters, never starting with "-" (which would read as a command-line
// flag) and never the all-zero id.
func NewClusterID() string { return NewClusterIDFrom(uuid.New) }

// NewClusterIDFrom is NewClusterID with the random UUIDs from gen (a seeded
// generator in tests that replay a history).
func NewClusterIDFrom(gen func() uuid.UUID) string {
	for {
		u := gen()
		id := base64.RawURLEncoding.EncodeToString(u[:])
		if !strings.HasPrefix(id, "-") && u != uuid.Nil {
			return id
		}
	}
}

// ValidateClusterID checks that id is what NewClusterID makes: 22 unpadded
// base64url characters that decode to 16 bytes.
func ValidateClusterID(id string) error {
	if len(id) != clusterIDLength {
		return rejectf(ErrInvalidClusterID, "%q has %d characters, want %d", id, len(id), clusterIDLength)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(b) != 16 {
		return rejectf(ErrInvalidClusterID, "%q is not 16 bytes in base64url: %v", id, err)
	}
	return nil
}
