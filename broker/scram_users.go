package broker

import (
	"fmt"
	"slices"

	"github.com/runnel-dev/runnel/broker/kafkaserver"

	"github.com/runnel-dev/runnel/broker/saslauth"
)

// scramUsers serves SCRAM mechanisms from the metadata image: the
// credentials AlterUserScramCredentials stored. Super users (Kafka's
// super.users, "User:<name>") may do everything; other SCRAM users may do
// nothing, as under a Kafka authorizer with no ACL granting them anything.
type scramUsers struct {
	view       MetadataView
	superUsers []string
}

// NewScramUsers returns the SCRAM user store of a broker whose metadata
// view is view. superUsers are principals in Kafka's form ("User:alice").
func NewScramUsers(view MetadataView, superUsers []string) saslauth.SCRAMUsers {
	return &scramUsers{view: view, superUsers: slices.Clone(superUsers)}
}

// SCRAMCredential returns the user's credential from the current image.
func (s *scramUsers) SCRAMCredential(mechanism, user string) (saslauth.SCRAMCredential, bool) {
	c, ok := s.view.Image().ScramCredential(user, mechanism)
	if !ok {
		return saslauth.SCRAMCredential{}, false
	}
	return saslauth.SCRAMCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}

// SCRAMPrincipal returns what user may do.
func (s *scramUsers) SCRAMPrincipal(user string) saslauth.Principal {
	return fixedPrincipal(slices.Contains(s.superUsers, "User:"+user))
}

// fixedPrincipal may do everything (true) or nothing (false).
type fixedPrincipal bool

func (p fixedPrincipal) IsAdmin() bool           { return bool(p) }
func (p fixedPrincipal) CanProduce(string) bool  { return bool(p) }
func (p fixedPrincipal) CanConsume(string) bool  { return bool(p) }
func (p fixedPrincipal) CanDescribe(string) bool { return bool(p) }
func (p fixedPrincipal) MayProduce() bool        { return bool(p) }
func (p fixedPrincipal) CanUseGroup(string) bool { return bool(p) }

// SCRAMListener returns sasl with the password mechanisms named in mechs
// (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) added, backed by users. PLAIN is
// offered on TLS connections only.
func SCRAMListener(sasl *kafkaserver.SASLConfig, mechs []string, users saslauth.SCRAMUsers) (*kafkaserver.SASLConfig, error) {
	if len(mechs) == 0 {
		return sasl, nil
	}
	out := &kafkaserver.SASLConfig{}
	if sasl != nil {
		*out = *sasl
		out.Mechanisms = slices.Clone(sasl.Mechanisms)
	}
	for _, name := range mechs {
		var (
			m   kafkaserver.Mechanism
			err error
		)
		if name == saslauth.PlainName {
			m, err = saslauth.NewPlain(users)
		} else {
			m, err = saslauth.NewSCRAM(name, users)
		}
		if err != nil {
			return nil, fmt.Errorf("broker: SCRAM listener: %w", err)
		}
		out.Mechanisms = append(out.Mechanisms, m)
	}
	return out, nil
}
