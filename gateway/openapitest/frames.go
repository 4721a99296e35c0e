package openapitest

import (
	"errors"
	"fmt"
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
	if err := ref.Value.VisitJSON(v, append([]openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}, schemaOptions...)...); err != nil {
		return fmt.Errorf("%w: frame %.300s is not a %s: %v", ErrFrameMismatch, frame, schemaName, err)
	}
	return nil
}
