// Package testfs gives tests real file systems with chosen limits: a tmpfs
// of a few MiB fills up for real, so disk-full handling is tested against
// the kernel rather than an imitation. FlipByte damages a file in place.
package testfs

import (
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (as mount's size= option: "4m") on dir,
// creating dir, and unmounts it when the test ends (after cleanups
// registered later, such as closing what uses it). It skips the test, with
// the reason, where mounting is not permitted (it needs root or
// CAP_SYS_ADMIN).
func MountTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs on %s to fill a disk for real (needs root or CAP_SYS_ADMIN): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// FlipByte inverts the bits of the byte at pos in the file at path.
func FlipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}
