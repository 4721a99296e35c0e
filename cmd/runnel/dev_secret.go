package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// devSecretFile is the file in the data directory that holds the HS256
// secret "runnel dev" signs and verifies tokens with, so that tokens stay
// valid across restarts.
const devSecretFile = "dev-jwt-secret"

// loadOrCreateDevSecret returns the dev secret of dataDir, creating it (32
// random bytes, hex-encoded, readable by the owner only) on first use.
func loadOrCreateDevSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, devSecretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < auth.MinSecretBytes {
			return nil, fmt.Errorf("%s holds %d bytes; a secret needs at least %d (delete the file to make a new one)", path, len(s), auth.MinSecretBytes)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the dev secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create the data directory: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make a dev secret: %w", err)
	}
	secret := []byte(hex.EncodeToString(raw))
	// Written whole and synced: a crash must not leave a torn secret that
	// refuses the next start, nor lose one whose tokens were handed out.
	if err := diskfs.WriteFileAtomic(diskfs.OS{}, path, append(secret, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write the dev secret: %w", err)
	}
	return secret, nil
}
