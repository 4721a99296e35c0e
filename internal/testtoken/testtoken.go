// Package testtoken mints the JWTs tests authenticate with.
package testtoken

import (
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// Mint signs a token of o with the HS256 secret, valid for an hour when
// o.TTL is zero, or fails the test.
func Mint(t testing.TB, secret []byte, o auth.MintOptions) string {
	t.Helper()
	m, err := auth.NewSecretMinter(secret)
	if err != nil {
		t.Fatal(err)
	}
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	tok, err := m.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
