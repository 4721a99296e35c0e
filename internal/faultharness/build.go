package faultharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// builds caches one runnel binary per set of build tags for the life of the
// test process.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// BuildRunnel builds ./cmd/runnel of this module with the given build tags,
// once per tag set per test process, and returns the binary's path. The
// binaries live in a temporary directory that RemoveBuilds deletes (call it
// from TestMain after m.Run).
func BuildRunnel(tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[key]; ok {
		return bin, nil
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "runnel-faultharness-")
		if err != nil {
			return "", fmt.Errorf("build runnel: %w", err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(builds.dir, fmt.Sprintf("runnel-%d", len(builds.bins)))
	args := []string{"build", "-o", bin}
	if key != "" {
		args = append(args, "-tags", key)
	}
	cmd := exec.Command("go", append(args, "./cmd/runnel")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags %q ./cmd/runnel: %w\n%s", key, err, out)
	}
	builds.bins[key] = bin
	return bin, nil
}

// RemoveBuilds deletes the binaries BuildRunnel made.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(mod), nil
}
