package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository's root, seen from this package's folder.
const repoRoot = "../.."

// sdkSources lists, sorted as LC_ALL=C sort does, the files the SDK
// bundle is built from, relative to the repository root: what
// "make console-assets" hashes. The generated types are left out: they
// are type declarations only and never change the bundle.
func sdkSources(t *testing.T) []string {
	t.Helper()
	out := []string{"sdk-js/package-lock.json", "sdk-js/package.json", "sdk-js/tsconfig.json"}
	err := filepath.WalkDir(filepath.Join(repoRoot, "sdk-js", "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == "sdk-js/src/generated" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list the SDK's sources: %v", err)
	}
	slices.Sort(out) // byte order, as LC_ALL=C sort
	return out
}

// TestBundleMatchesSDKSources fails when sdk-js has changed since the
// console's copy of the SDK bundle (assets/runnel-client.js) was built:
// the sources' hashes must be those recorded beside it.
func TestBundleMatchesSDKSources(t *testing.T) {
	var want strings.Builder
	for _, name := range sdkSources(t) {
		b, err := os.ReadFile(filepath.Join(repoRoot, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		sum := sha256.Sum256(b)
		want.WriteString(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	}
	have, err := embedded.ReadFile("assets/SDK-SOURCES.sha256")
	if err != nil {
		t.Fatalf("no record of the SDK sources the bundle came from: %v; run: make console-assets", err)
	}
	if string(have) != want.String() {
		t.Fatalf("gateway/console/assets/runnel-client.js is stale: sdk-js changed since it was built. "+
			"Run: make console-assets, and commit gateway/console/assets.\nrecorded:\n%s\nnow:\n%s", have, want.String())
	}
	if _, ok := files["runnel-client.js"]; !ok {
		t.Fatalf("the bundle is not embedded")
	}
}
