package tiering_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/storetest"
)

func TestDirStoreAcceptance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) tiering.Store {
			s, err := tiering.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Corrupt: func(t *testing.T, s tiering.Store, key string) {
			path, err := s.(*tiering.DirStore).Path(key)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			// Flip one bit in the last byte of the object, past its header.
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, fi.Size()-1); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x10
			if _, err := f.WriteAt(b, fi.Size()-1); err != nil {
				t.Fatal(err)
			}
		},
		LargeSize: 12 << 20,
	})
}

// TestDirStoreRefusesSymlinks: a symlink planted at a key's path (pointing
// out of the store) is never followed.
func TestDirStoreRefusesSymlinks(t *testing.T) {
	s, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("not yours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Root(), "link")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(t.Context(), "link", 0, -1)
	if !errors.Is(err, tiering.ErrNotFound) {
		t.Fatalf("Get through a symlink: %v, want refused as not found", err)
	}
	if _, err := s.Stat(t.Context(), "link"); !errors.Is(err, tiering.ErrNotFound) {
		t.Fatalf("Stat through a symlink: %v", err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "not yours" {
		t.Fatal("the symlink's target changed")
	}
}

// TestDirStoreDamagedHeader: a file whose header is damaged or cut short is
// reported as ErrChecksum and left in place (never deleted to "repair" it).
func TestDirStoreDamagedHeader(t *testing.T) {
	s, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, damage := range []func(path string) error{
		func(p string) error { return os.Truncate(p, 10) },
		func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{0xff}, 9) // in the header's size field
			return err
		},
		func(p string) error { // bytes appended past the recorded size
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("extra"))
			return err
		},
	} {
		key := "dmg/" + strconv.Itoa(rand.Int())
		if _, err := s.Put(ctx, key, bytes.NewReader([]byte("some bytes")), 10); err != nil {
			t.Fatal(err)
		}
		path, _ := s.Path(key)
		if err := damage(path); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, tiering.ErrChecksum) {
			t.Fatalf("Stat of a damaged file: %v, want ErrChecksum", err)
		}
		if _, err := s.Get(ctx, key, 2, 3); !errors.Is(err, tiering.ErrChecksum) {
			t.Fatalf("ranged Get of a damaged file: %v, want ErrChecksum", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("damaged file removed: %v", err)
		}
	}
}
