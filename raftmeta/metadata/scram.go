package metadata

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"unicode/utf8"
)

// SCRAM users (Kafka's user SCRAM credentials, KIP-554). The image keeps
// what a SCRAM server needs and nothing more: salt, iteration count and the
// derived stored and server keys, never a password or a salted password.

// The SCRAM mechanisms a credential may be for, and the size of their keys.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Limits of SCRAM credentials.
const (
	// MinScramIterations is the fewest PBKDF2 iterations accepted.
	MinScramIterations = 4096
	// MaxScramIterations bounds the work one authentication costs.
	MaxScramIterations = 16384
	// MaxScramUserLength bounds a user name, in bytes.
	MaxScramUserLength = 255
	// MaxScramSaltLength bounds a salt, in bytes.
	MaxScramSaltLength = 1024
)

// ErrInvalidScramCredential means a SCRAM credential or user name breaks
// the rules above; the proposer must fix it.
var ErrInvalidScramCredential = errors.New("metadata: invalid SCRAM credential")

// ErrUnknownScramCredential means the user has no credential for that
// mechanism.
var ErrUnknownScramCredential = errors.New("metadata: unknown SCRAM credential")

// ScramCredential is one user's credential for one mechanism.
type ScramCredential struct {
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramUser is a user and its credentials, ordered by mechanism.
type ScramUser struct {
	Name        string            `json:"name"`
	Credentials []ScramCredential `json:"credentials"`
}

// UserScramCredentialSet creates or replaces a user's credential for one
// mechanism.
type UserScramCredentialSet struct {
	User       string          `json:"user"`
	Credential ScramCredential `json:"credential"`
}

// UserScramCredentialDeleted removes a user's credential for one mechanism.
type UserScramCredentialDeleted struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// ScramKeySize returns the key size of mechanism, 0 if it is not one.
func ScramKeySize(mechanism string) int {
	switch mechanism {
	case ScramSHA256:
		return 32
	case ScramSHA512:
		return 64
	}
	return 0
}

// ValidateScramUser reports why name cannot be a SCRAM user name.
func ValidateScramUser(name string) error {
	if name == "" || len(name) > MaxScramUserLength || !utf8.ValidString(name) {
		return rejectf(ErrInvalidScramCredential, "user name must be 1..%d bytes of UTF-8", MaxScramUserLength)
	}
	return nil
}

// Validate reports what is wrong with c.
func (c *ScramCredential) Validate() error {
	size := ScramKeySize(c.Mechanism)
	switch {
	case size == 0:
		return rejectf(ErrInvalidScramCredential, "mechanism %q; want %s or %s", c.Mechanism, ScramSHA256, ScramSHA512)
	case c.Iterations < MinScramIterations || c.Iterations > MaxScramIterations:
		return rejectf(ErrInvalidScramCredential, "iterations %d not in %d..%d", c.Iterations, MinScramIterations, MaxScramIterations)
	case len(c.Salt) == 0 || len(c.Salt) > MaxScramSaltLength:
		return rejectf(ErrInvalidScramCredential, "salt of %d bytes; want 1..%d", len(c.Salt), MaxScramSaltLength)
	case len(c.StoredKey) != size || len(c.ServerKey) != size:
		return rejectf(ErrInvalidScramCredential, "%s keys must be %d bytes", c.Mechanism, size)
	}
	return nil
}

// ScramCredential returns user's credential for mechanism.
func (img *Image) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	for _, c := range img.scramUsers[user] {
		if c.Mechanism == mechanism {
			return c, true
		}
	}
	return ScramCredential{}, false
}

// ScramUsers returns every SCRAM user, ordered by name.
func (img *Image) ScramUsers() []ScramUser {
	out := make([]ScramUser, 0, len(img.scramUsers))
	for _, name := range slices.Sorted(maps.Keys(img.scramUsers)) {
		out = append(out, ScramUser{Name: name, Credentials: slices.Clone(img.scramUsers[name])})
	}
	return out
}

// putScramCredentials stores a user's credentials (none deletes the user),
// copying the map on first write.
func (w *writer) putScramCredentials(user string, creds []ScramCredential) {
	if !w.ownScramUsers {
		w.img.scramUsers = maps.Clone(w.img.scramUsers)
		if w.img.scramUsers == nil {
			w.img.scramUsers = map[string][]ScramCredential{}
		}
		w.ownScramUsers = true
	}
	if len(creds) == 0 {
		delete(w.img.scramUsers, user)
		return
	}
	w.img.scramUsers[user] = creds
}

func (w *writer) userScramCredentialSet(r *UserScramCredentialSet) error {
	if err := ValidateScramUser(r.User); err != nil {
		return err
	}
	if err := r.Credential.Validate(); err != nil {
		return err
	}
	creds := slices.DeleteFunc(slices.Clone(w.img.scramUsers[r.User]), func(c ScramCredential) bool {
		return c.Mechanism == r.Credential.Mechanism
	})
	creds = append(creds, r.Credential)
	slices.SortFunc(creds, func(a, b ScramCredential) int { return cmp.Compare(a.Mechanism, b.Mechanism) })
	w.putScramCredentials(r.User, creds)
	return nil
}

func (w *writer) userScramCredentialDeleted(r *UserScramCredentialDeleted) error {
	if _, ok := w.img.ScramCredential(r.User, r.Mechanism); !ok {
		return rejectf(ErrUnknownScramCredential, "user %q has no %s credential", r.User, r.Mechanism)
	}
	w.putScramCredentials(r.User, slices.DeleteFunc(slices.Clone(w.img.scramUsers[r.User]), func(c ScramCredential) bool {
		return c.Mechanism == r.Mechanism
	}))
	return nil
}

// loadScramUsers puts a snapshot's SCRAM users into img, checking them.
func loadScramUsers(img *Image, users []ScramUser) error {
	for _, u := range users {
		if err := ValidateScramUser(u.Name); err != nil {
			return err
		}
		if _, dup := img.scramUsers[u.Name]; dup || len(u.Credentials) == 0 {
			return rejectf(ErrInvalidScramCredential, "user %q duplicated or without credentials", u.Name)
		}
		for i := range u.Credentials {
			if err := u.Credentials[i].Validate(); err != nil {
				return err
			}
			if i > 0 && u.Credentials[i-1].Mechanism >= u.Credentials[i].Mechanism {
				return rejectf(ErrInvalidScramCredential, "user %q credentials not ordered by mechanism", u.Name)
			}
		}
		if img.scramUsers == nil {
			img.scramUsers = map[string][]ScramCredential{}
		}
		img.scramUsers[u.Name] = u.Credentials
	}
	return nil
}
