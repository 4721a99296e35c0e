package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/runnel-dev/runnel/gateway/openapispec"
)

// ndjsonType is the media type of a produce body with one event per line.
const ndjsonType = "application/x-ndjson"

func init() {
	// openapi3filter decodes bodies with decoders registered per media type;
	// it has none for NDJSON. The document describes an NDJSON body as the
	// array of its lines' values, which is what this decoder returns.
	openapi3filter.RegisterBodyDecoder(ndjsonType, decodeNDJSON)
	// The web console's files are text the document describes as strings.
	for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// schemaOptions are added to every schema check: the document's formats
// that kin-openapi leaves unchecked unless asked. uuid follows RFC 9562, so
// version 4 and version 7 ids both pass.
var schemaOptions = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
}

// spec is the parsed document and a router over it, shared by every
// Transport of the process: both are read-only once built.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

// loadSpec parses and validates the embedded document once.
var loadSpec = sync.OnceValues(func() (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapispec.YAML())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi.yaml is OpenAPI %s; the checks assume 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	// The document's server is `runnel dev`'s address; tests listen on
	// random ports. Without servers the router matches paths on any host.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &spec{doc: doc, router: router}, nil
})

// decodeNDJSON decodes an NDJSON body into the array of its lines' values,
// skipping blank lines. A line that is not one JSON value is an error.
func decodeNDJSON(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	values := []any{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		v, err := decodeJSON(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		values = append(values, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read NDJSON body: %w", err)
	}
	return values, nil
}

// decodeJSON decodes exactly one JSON value, numbers kept exact as
// openapi3filter keeps them.
func decodeJSON(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("not a single valid JSON value: %.80q", data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	return v, nil
}
