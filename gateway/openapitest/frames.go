package openapitest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// CheckClientFrame reports through t.Errorf a WebSocket frame a client sent
// on /v1/ws that does not match the document's WsClientFrame schema.
func CheckClientFrame(t testing.TB, frame []byte) {
	t.Helper()
	if err := ClientFrameError(frame); err != nil {
		t.Errorf("openapitest: %v", err)
	}
}

// CheckServerFrame reports through t.Errorf a WebSocket frame the gateway
// sent on /v1/ws that does not match the document's WsServerFrame schema.
func CheckServerFrame(t testing.TB, frame []byte) {
	t.Helper()
	if err := ServerFrameError(frame); err != nil {
		t.Errorf("openapitest: %v", err)
	}
}

// ClientFrameError says why frame is not a WsClientFrame of the document,
// or returns nil when it is one. Tests that send bad frames on purpose use
// it to check that the document refuses them too.
func ClientFrameError(frame []byte) error { return frameError("WsClientFrame", frame) }

// ServerFrameError says why frame is not a WsServerFrame of the document,
// or returns nil when it is one.
func ServerFrameError(frame []byte) error { return frameError("WsServerFrame", frame) }

// ErrFrameMismatch is wrapped by the errors of ClientFrameError and
// ServerFrameError for a frame the document refuses; other errors mean the
// document could not be used, and fail the test either way.
var ErrFrameMismatch = errors.New("frame does not match the schema")

func frameError(schemaName string, frame []byte) error {
	s, err := loadSpec()
	if err != nil {
		return err
	}
	ref := s.doc.Components.Schemas[schemaName]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("openapi.yaml has no schema %s", schemaName)
	}
	v, err := decodeJSON(frame)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFrameMismatch, schemaName, err)
	}
	schema := mappedSchema(s.doc.Components.Schemas, ref.Value, v)
	if err := schema.VisitJSON(v, append([]openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}, schemaOptions...)...); err != nil {
		return fmt.Errorf("%w: frame %.300s is not a %s: %v", ErrFrameMismatch, frame, schemaName, err)
	}
	return nil
}

// mappedSchema returns the schema of the one-of that v's discriminator
// value maps to, or schema itself when v has none the mapping knows. Every
// mapped schema fixes the discriminator with a const, so v matches the
// one-of exactly when it matches the mapped schema; checking only that one
// spares compiling every other frame's schema at each check (kin-openapi
// compiles the schema it visits on every call, which made a check of a
// server frame cost ~16 ms).
func mappedSchema(schemas openapi3.Schemas, schema *openapi3.Schema, v any) *openapi3.Schema {
	d := schema.Discriminator
	obj, ok := v.(map[string]any)
	if d == nil || !ok {
		return schema
	}
	name, ok := obj[d.PropertyName].(string)
	if !ok {
		return schema
	}
	m, ok := d.Mapping[name]
	if !ok {
		return schema
	}
	if m.Value != nil {
		return m.Value
	}
	if ref := schemas[strings.TrimPrefix(m.Ref, "#/components/schemas/")]; ref != nil && ref.Value != nil {
		return ref.Value
	}
	return schema
}
