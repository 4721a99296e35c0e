package tiering

import (
	"errors"
	"fmt"
)

// Sentinel errors of a [Store]. Every error a Store returns that matches one
// of them does so through errors.Is; the concrete value is an [*Error]
// naming the operation and key.
var (
	// ErrNotFound: the key holds no object. Callers treat the object as
	// absent (Delete never returns it).
	ErrNotFound = errors.New("object not found")
	// ErrExists: Put found the key already taken; objects are never
	// overwritten. A caller that may have written it itself (a retried
	// upload) compares Stat's size and CRC32C with its own.
	ErrExists = errors.New("object already exists")
	// ErrPrecondition: the server refused a conditional write for a reason
	// other than the key being taken (for instance a concurrent conflicting
	// upload of the same key). Nothing was written by this call; retry later
	// or treat the key as contended.
	ErrPrecondition = errors.New("precondition failed")
	// ErrChecksum: the bytes read or written do not match the object's
	// CRC-32C, or the stored object is damaged. Do not use the data; the
	// object needs to be re-uploaded from its source.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrInvalidKey: the key or prefix is not acceptable (see ValidateKey).
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidRange: a Get asked for bytes outside the object.
	ErrInvalidRange = errors.New("invalid byte range")
)

// Error is the error type returned by Store operations: what was attempted,
// on which key, and why. Unwrap gives the cause, which matches one of the
// sentinels above when the failure is one of theirs.
type Error struct {
	Op  string // "put", "get", "stat", "list", "delete"
	Key string // the key or list prefix
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("tiering %s %q: %v", e.Op, e.Key, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func opErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) && te.Op == op && te.Key == key {
		return err
	}
	return &Error{Op: op, Key: key, Err: err}
}
