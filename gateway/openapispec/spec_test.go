package openapispec_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/runnel-dev/runnel/gateway/openapispec"
)

// TestEmbeddedMatchesRoot keeps the embedded copy identical to the
// repository's openapi.yaml, the file people edit.
func TestEmbeddedMatchesRoot(t *testing.T) {
	root, err := os.ReadFile(filepath.Join("..", "..", "openapi.yaml"))
	if err != nil {
		t.Fatalf("read the root openapi.yaml: %v", err)
	}
	if !bytes.Equal(root, openapispec.YAML()) {
		t.Fatalf("gateway/openapispec/openapi.yaml differs from the root openapi.yaml; " +
			"edit the root file, then run: cp openapi.yaml gateway/openapispec/openapi.yaml")
	}
}

// TestValid loads the document as OpenAPI 3.1 and validates it, examples
// included, the way the request validator will read it.
func TestValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapispec.YAML())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi is %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("validate: %v", err)
	}
}
