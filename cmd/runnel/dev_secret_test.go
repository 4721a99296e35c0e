package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDevSecretKeptAcrossStarts creates the dev secret once, readable by the
// owner only, written whole (no temporary file left), and reads the same
// secret back on the next start.
func TestDevSecretKeptAcrossStarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := loadOrCreateDevSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, devSecretFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	again, err := loadOrCreateDevSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) || len(first) != 64 {
		t.Fatalf("secret %q, then %q", first, again)
	}
}
