package tiering

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key a Store accepts, in bytes (S3's limit).
const MaxKeyLen = 1024

// ValidateKey reports why key cannot name an object, or nil. A key is one or
// more segments joined by '/'; each segment is non-empty, does not begin
// with '.' (which also rules out "." and ".." and leaves dot-names free for a
// store's own files), and holds printable UTF-8 with no backslash. The rules
// are the same for every Store so that keys move between them unchanged and
// never escape a local directory.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := validatePath(key); err != nil {
		return err
	}
	return nil
}

// validatePrefix checks a List prefix: empty, or a key, or a key followed by
// '/', or a key whose last segment is incomplete (which is still a valid
// segment).
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validatePath(strings.TrimSuffix(prefix, "/"))
}

func validatePath(p string) error {
	if len(p) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(p), MaxKeyLen)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	}
	for _, seg := range strings.Split(p, "/") {
		if err := validateSegment(seg); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrInvalidKey, p, err)
		}
	}
	return nil
}

func validateSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty path segment (leading, trailing or double '/')")
	case seg[0] == '.':
		return errors.New("path segment begins with '.'")
	}
	for _, r := range seg {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("character %U not allowed", r)
		}
	}
	return nil
}
