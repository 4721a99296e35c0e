package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
)

// SCRAM users of the brokers' SASL listeners (KIP-554's user SCRAM
// credentials), managed by admins. The gateway salts passwords before they
// leave it; the cluster keeps only derived keys.

// Limits of the SCRAM user routes.
const (
	maxScramUserBytes        = 255
	maxScramPasswordBytes    = 1024
	minScramIterations       = 4096
	maxScramIterations       = 16384
	defaultScramIterations   = 8192
	scramMechanismsSupported = "SCRAM-SHA-256 or SCRAM-SHA-512"
)

// scramUserParams reads and checks the {user} and {mechanism} of a path.
func scramUserParams(c *fiber.Ctx) (user, mechanism string, err error) {
	user, err = url.PathUnescape(c.Params("user"))
	if err != nil || user == "" || len(user) > maxScramUserBytes || !utf8.ValidString(user) ||
		strings.ContainsFunc(user, unicode.IsControl) {
		return "", "", apierr.Invalid("user name must be 1 to %d bytes of UTF-8 without control characters", maxScramUserBytes)
	}
	mechanism = strings.ToUpper(c.Params("mechanism"))
	if mechanism != "SCRAM-SHA-256" && mechanism != "SCRAM-SHA-512" {
		return "", "", apierr.Invalid("mechanism %q: want %s", c.Params("mechanism"), scramMechanismsSupported)
	}
	// Fiber reuses the buffers its parameters alias: keep copies.
	return strings.Clone(user), strings.Clone(mechanism), nil
}

// scramUserJSON is openapi.yaml's ScramUser.
type scramUserJSON struct {
	Name        string                `json:"name"`
	Credentials []scramCredentialJSON `json:"credentials"`
}

type scramCredentialJSON struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func (s *Server) listScramUsers(c *fiber.Ctx, _ *auth.Principal) error {
	users, err := s.be.ListScramUsers(context.Background())
	if err != nil {
		return err
	}
	out := struct {
		Users []scramUserJSON `json:"users"`
	}{Users: make([]scramUserJSON, 0, len(users))}
	for _, u := range users {
		j := scramUserJSON{Name: u.Name, Credentials: make([]scramCredentialJSON, 0, len(u.Credentials))}
		for _, cr := range u.Credentials {
			j.Credentials = append(j.Credentials, scramCredentialJSON{Mechanism: cr.Mechanism, Iterations: cr.Iterations})
		}
		out.Users = append(out.Users, j)
	}
	return sendJSON(c, http.StatusOK, out)
}

func (s *Server) setScramPassword(c *fiber.Ctx, _ *auth.Principal) error {
	user, mechanism, err := scramUserParams(c)
	if err != nil {
		return err
	}
	m, err := s.jsonObject(c, "password", "iterations")
	if err != nil {
		return err
	}
	password, ok, err := stringField(m, "password")
	if err != nil {
		return err
	}
	if !ok || password == "" || len(password) > maxScramPasswordBytes {
		return apierr.Invalid("body: \"password\" is required, 1 to %d bytes", maxScramPasswordBytes)
	}
	iterations := int64(defaultScramIterations)
	if n, ok, err := intField(m, "iterations", minScramIterations, maxScramIterations); err != nil {
		return err
	} else if ok {
		iterations = n
	}
	if err := s.be.SetScramPassword(context.Background(), user, mechanism, password, int32(iterations)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) deleteScramCredential(c *fiber.Ctx, _ *auth.Principal) error {
	user, mechanism, err := scramUserParams(c)
	if err != nil {
		return err
	}
	if err := s.be.DeleteScramCredential(context.Background(), user, mechanism); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// scramBackend is the part of Backend the SCRAM user routes use.
type scramBackend interface {
	// ListScramUsers lists the SCRAM users by name.
	ListScramUsers(ctx context.Context) ([]backend.ScramUser, error)
	// SetScramPassword creates or replaces a user's credential.
	SetScramPassword(ctx context.Context, user, mechanism, password string, iterations int32) error
	// DeleteScramCredential removes one; 404 not_found without it.
	DeleteScramCredential(ctx context.Context, user, mechanism string) error
}
