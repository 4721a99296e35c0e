package broker

import (
	"fmt"
	"net"
	"slices"

	"github.com/runnel-dev/runnel/broker/kafkaserver"

	"github.com/runnel-dev/runnel/broker/saslauth"
)

// scramUsers serves SCRAM mechanisms from the metadata image: the
// credentials AlterUserScramCredentials stored. Super users (Kafka's
// super.users, "User:<name>") may do everything; other SCRAM users what
// the ACLs allow them (aclPrincipal).
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

// SCRAMPrincipal returns what user may do on conn.
func (s *scramUsers) SCRAMPrincipal(user string, conn kafkaserver.ConnInfo) saslauth.Principal {
	name := "User:" + user
	host := ""
	if conn.RemoteAddr != nil {
		host, _, _ = net.SplitHostPort(conn.RemoteAddr.String())
	}
	return &aclPrincipal{name: name, host: host, view: s.view, super: slices.Contains(s.superUsers, name)}
}

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
