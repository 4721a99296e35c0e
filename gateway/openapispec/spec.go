// Package openapispec holds Runnel's OpenAPI document, openapi.yaml at the
// repository root, for the gateway to serve at /openapi.yaml and for tests
// to validate traffic against.
//
// go:embed cannot reach a file above its package, so this package embeds a
// copy of the root document. The copy must stay byte-identical to the root:
// TestEmbeddedMatchesRoot fails, naming the command that syncs it, when they
// differ. The root file is the one to edit.
package openapispec

import (
	_ "embed"
)

//go:embed openapi.yaml
var spec []byte

// YAML returns the OpenAPI document's bytes. Each call returns a fresh copy,
// so callers may keep or change it.
func YAML() []byte {
	return append([]byte(nil), spec...)
}
