package tiering_test

import (
	"os"
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
