package openapitest

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// CheckClientFrame reports through t.Errorf a WebSocket frame a client sent
// on /v1/ws that does not match the document's WsClientFrame schema.
func CheckClientFrame(t testing.TB, frame []byte) {
	t.Helper()
	checkFrame(t, "WsClientFrame", frame)
}

// CheckServerFrame reports through t.Errorf a WebSocket frame the gateway
// sent on /v1/ws that does not match the document's WsServerFrame schema.
func CheckServerFrame(t testing.TB, frame []byte) {
	t.Helper()
	checkFrame(t, "WsServerFrame", frame)
}

func checkFrame(t testing.TB, schemaName string, frame []byte) {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Errorf("openapitest: %v", err)
		return
	}
	ref := s.doc.Components.Schemas[schemaName]
	if ref == nil || ref.Value == nil {
		t.Errorf("openapitest: openapi.yaml has no schema %s", schemaName)
		return
	}
	v, err := decodeJSON(frame)
	if err != nil {
		t.Errorf("openapitest: %s: %v", schemaName, err)
		return
	}
	if err := ref.Value.VisitJSON(v, append([]openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}, schemaOptions...)...); err != nil {
		t.Errorf("openapitest: frame %.300s is not a %s: %v", frame, schemaName, err)
	}
}
